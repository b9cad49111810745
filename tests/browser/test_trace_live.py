"""A leak trace's page, open while the trace runs: it says which read the trace is at, then shows
the answer by itself (the page reloads once, when the trace has ended)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from generation.marks import mark_frames
from provenance.models import Trace
from provenance.services import trace_run
from tests.browser.conftest import (
    UI_TIMEOUT_MS,
    Watch,
    expect_live,
    new_context,
    off_the_event_loop,
    sign_in_as_admin,
)
from tests.provenance.conftest import textured_clip, write_clip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued(outputs_dir) -> Trace:
    """A queued trace of a marked clip whose serial names no stored output."""
    frames, _ = mark_frames(textured_clip(seed=1))
    folder = Path(outputs_dir, "traces")
    folder.mkdir()
    video = write_clip(frames, folder, "suspect.mp4")
    return Trace.objects.create(
        file_name="traces/suspect.mp4",
        original_name="suspect.mp4",
        size_bytes=video.stat().st_size,
        sha256="0" * 64,
    )


def test_the_trace_page_follows_the_trace_and_shows_its_answer(
    asgi_server, queued, admin_totp_secret, chromium: Browser
):
    watch = Watch()
    page = new_context(chromium, asgi_server, watch).new_page()
    sign_in_as_admin(page, admin_totp_secret, f"/staff/traces/{queued.id}/")
    expect_live(page)
    expect(page.get_by_test_id("trace-state")).to_have_text("Queued")
    page.evaluate("window.__notReloaded = true")
    # What the stage line says, each time it changes, kept across the reload at the end.
    page.evaluate(
        """() => {
        const stage = document.querySelector("[data-testid=trace-stage]");
        new MutationObserver(() => {
          const seen = JSON.parse(sessionStorage.getItem("stages") || "[]");
          seen.push(stage.textContent);
          sessionStorage.setItem("stages", JSON.stringify(seen));
        }).observe(stage, {childList: true, characterData: true, subtree: true});
      }"""
    )

    off_the_event_loop(lambda: trace_run(trace_id=queued.id))

    expect(page.get_by_test_id("trace-state")).to_have_text("Done", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="A mark verified, but it names no stored output"))
    assert page.evaluate("window.__notReloaded") is None  # the answer came with a reload
    expect(page.locator("#live-status")).to_have_count(0)  # a final trace has nothing to follow
    stages = page.evaluate("JSON.parse(sessionStorage.getItem('stages') || '[]')")
    assert "Decoding the file…" in stages, stages
    assert "Reading the mark from the mean of the frames…" in stages, stages
    watch.assert_clean()
