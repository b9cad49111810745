"""A tester iterates in the studio without retyping, in a real Chromium against the real ASGI
server, at a desktop and a phone size: shape chips, Generate keeps the settings, Reuse settings
and Re-run from a job card, New version beside the reviewer's note, and the server's refusals
shown all at once, each next to its field. No worker runs: the jobs stay queued.

Screenshots land in test-artifacts/browser/ (studio-<what>-<width>.png).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from generation.models import Job
from review.models import Output
from tests.browser.conftest import Watch, expect_live, new_context, off_the_event_loop
from tests.browser.conftest import sign_in_to_studio as sign_in
from tests.factories import make_output

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPT = "a paper boat on a flooded street, evening light"
NOTE = "Lovely, but keep the boat in frame."
STALE_WIDTH = "select => { select.add(new Option('70', '70')); select.value = '70'; }"
VIEWPORTS = {"1440": {"width": 1440, "height": 900}, "390": {"width": 390, "height": 844}}


@pytest.fixture
def needs_changes(tester, outputs_dir) -> Output:
    output = make_output(tester, state=Output.State.NEEDS_CHANGES)
    Output.objects.filter(id=output.id).update(decision_reason="framing", decision_note=NOTE)
    return output


def expect_no_sideways_scroll(page: Page) -> None:
    """Nothing on the page reaches past the viewport: the document does not scroll sideways, and
    nothing in the content sticks out (named, to say what to fix)."""
    wide = page.evaluate(
        """() => Array.from(document.querySelectorAll("main, main *"))
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
          .map((el) => `${el.tagName}.${el.className}`)"""
    )
    assert not wide, wide
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), page.url


def card(page: Page, prompt: str):
    return page.locator("#jobs li[data-job-id]", has_text=prompt)


def choose_shape_and_generate(page: Page) -> None:
    chip = page.get_by_test_id("aspect-chips").first.get_by_role("button", name="16:9")
    expect(chip).to_have_attribute("data-width", "112")  # 112x64: the widest 16:9 it takes
    expect(page.locator("textarea[name=prompt]")).to_have_attribute("maxlength", "2000")
    chip.click()
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(page.locator("select[name=width]")).to_have_value(chip.get_attribute("data-width"))
    expect(page.locator("select[name=height]")).to_have_value(chip.get_attribute("data-height"))
    length = page.get_by_test_id("duration-chips").first.locator(".chip").nth(1)
    length.click()
    expect(page.locator("select[name=num_frames]")).to_have_value(
        length.get_attribute("data-num-frames")
    )
    page.fill("textarea[name=prompt]", PROMPT)
    page.fill("input[name=steps]", "6")
    page.locator("#submit-job").click()
    expect(page).to_have_url(re.compile(r"/studio/$"))
    expect(page.locator(".messages")).to_contain_text("Your job is queued.")


def expect_settings_kept(page: Page) -> None:
    expect(page.locator("textarea[name=prompt]")).to_have_value(PROMPT)
    expect(page.locator("input[name=steps]")).to_have_value("6")
    chip = page.get_by_test_id("aspect-chips").first.get_by_role("button", name="16:9")
    expect(chip).to_have_attribute("aria-pressed", "true")


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_a_tester_iterates_without_retyping(
    asgi_server, tester, needs_changes, screenshots, chromium, width
):
    watch = Watch()
    page = new_context(chromium, asgi_server, watch).new_page()
    page.set_viewport_size(VIEWPORTS[width])
    sign_in(page)
    expect_live(page)

    choose_shape_and_generate(page)
    expect_settings_kept(page)
    job = card(page, PROMPT)
    expect(job).to_have_count(1)
    expect(job.locator(".job-details")).to_contain_text("Steps6")
    expect(job.get_by_test_id("job-state")).to_have_text("Queued")
    expect_no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"studio-kept-{width}.png", full_page=True)

    page.goto("/studio/?state=bogus")  # a bad filter is reported, the page still works
    expect(page.get_by_test_id("query-problems")).to_contain_text("“state”")
    page.goto("/studio/")
    job.get_by_test_id("reuse").click()
    expect(page.get_by_test_id("derived-from")).to_have_attribute("data-mode", "reuse")
    expect(page.locator("textarea[name=prompt]")).to_have_value(PROMPT)

    job.get_by_test_id("rerun").click()
    expect(page.locator(".messages")).to_contain_text("Your job is queued.")
    expect(card(page, PROMPT)).to_have_count(2)
    children = off_the_event_loop(lambda: Job.objects.filter(parent__isnull=False).count())
    assert children == 1

    card(page, needs_changes.job.prompt).get_by_test_id("new-version").click()
    expect(page.get_by_test_id("reviewer-note")).to_contain_text(NOTE)
    expect(page.locator("textarea[name=prompt]")).to_have_value(needs_changes.job.prompt)
    expect_no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"studio-new-version-{width}.png", full_page=True)

    page.fill("input[name=steps]", "99")
    page.locator("input[name=seed]").focus()
    expect(page.locator("input[name=steps]")).to_have_value("12")  # what the model takes
    # A page older than the model's limits can still send a shape the server refuses.
    page.locator("select[name=width]").evaluate(STALE_WIDTH)
    page.fill("textarea[name=prompt]", "")
    page.locator("#submit-job").click()
    summary = page.get_by_test_id("errors-summary")
    expect(summary).to_contain_text("Prompt")
    expect(summary).to_contain_text("Width must be a positive multiple of 16")
    expect(page.get_by_test_id("error-prompt")).to_be_visible()
    expect(page.get_by_test_id("error-width")).to_be_visible()
    expect(page.get_by_test_id("reviewer-note")).to_contain_text(NOTE)  # still beside it
    expect_no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"studio-errors-{width}.png", full_page=True)

    expected = {"GET /studio/?state=bogus -> 400", "POST /studio/ -> 400"}
    unexpected = [f for f in watch.failures if re.sub(r"https?://[^/]+", "", f) not in expected]
    assert not unexpected, unexpected
