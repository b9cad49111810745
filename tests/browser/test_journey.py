"""The alpha's whole path in a real Chromium, against the real ASGI server and a real Celery worker.

An invited tester signs up, generates a video and watches it progress live; a reviewer approves it;
the tester shares it; an anonymous visitor plays it. Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from access.services import invitation_create, terms_publish
from tests.browser.conftest import (
    TESTER_EMAIL,
    TESTER_PASSWORD,
    UI_TIMEOUT_MS,
    Watch,
    expect_live,
    job_events,
    new_context,
    record_studio_frames,
    sign_in_to_review,
)
from tests.conftest import WAIT_SCALE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("running_dispatcher"),
]

# A whole job on the tiny demo model, the worker's first pipeline load included, may take up to
# JOB_TIMEOUT_MS: a ceiling against hanging, stretched like every wait on another process (a CI
# run under load once took longer than 30 s for it).
JOB_TIMEOUT_MS = 30_000 * WAIT_SCALE

TESTER_NAME = "Ada Lovelace"
PROMPT = "a lighthouse at dusk, waves breaking on the rocks"
STEPS = 12  # the demo model's limit: the most progress events one run can produce

# Runs in every page before its own scripts: keeps what the job list showed after each change, so a
# state that lasted only milliseconds on screen is still on record.
RECORD_JOB_ROWS = """
window.__rows = [];
new MutationObserver(() => {
  for (const row of document.querySelectorAll("#jobs li[data-job-id]")) {
    window.__rows.push({
      id: row.dataset.jobId,
      state: row.dataset.state,
      value: row.querySelector("progress")?.value,
      text: row.querySelector(".progress-text")?.textContent,
    });
  }
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture
def invitation_path(cohort) -> str:
    issued = invitation_create(email=TESTER_EMAIL, invited_by=None, cohort=cohort)
    return reverse("invitation_open", kwargs={"code": issued.code})


@pytest.fixture
def published_terms() -> None:
    terms_publish(title="Alpha terms", body="Share only what a reviewer approved.", by=None)


def studio_context(browser: Browser, base_url: str, watch: Watch) -> BrowserContext:
    context = new_context(browser, base_url, watch)
    context.add_init_script(RECORD_JOB_ROWS)
    return context


def sign_up(page: Page, invitation_path: str, screenshots: Path) -> None:
    page.goto(invitation_path)
    page.get_by_test_id("invitation-accept").click()  # the landing page's one way on
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    email = page.locator("input[name=email]")
    expect(email).to_have_value(TESTER_EMAIL)
    expect(email).to_be_disabled()
    page.fill("input[name=display_name]", TESTER_NAME)
    page.fill("input[name=password1]", TESTER_PASSWORD)
    page.fill("input[name=password2]", TESTER_PASSWORD)
    page.screenshot(path=screenshots / "01-signup.png", full_page=True)
    page.get_by_role("button", name="Sign Up").click()


def accept_terms(page: Page, screenshots: Path) -> None:
    """A tester's first stop after signing up: the published terms, then where they were going."""
    expect(page).to_have_url(re.compile(r"/terms/\?next=/studio/$"))
    page.get_by_test_id("accept-terms").check()
    page.screenshot(path=screenshots / "02-terms.png", full_page=True)
    page.get_by_test_id("accept-terms-submit").click()
    page.wait_for_url(re.compile(r"/studio/$"))  # and for the page's scripts and styles


def submit_job(page: Page) -> str:
    """Fill in the studio form and submit it; returns the new job's id."""
    page.goto("/studio/")
    page.fill("textarea[name=prompt]", PROMPT)
    page.fill("input[name=steps]", str(STEPS))
    page.locator("#submit-job").click()
    expect(page).to_have_url(re.compile(r"/studio/$"))
    expect(page.locator(".messages")).to_contain_text("Your job is queued.")
    row = page.locator("#jobs li[data-job-id]", has_text=PROMPT)
    expect(row).to_have_count(1)
    return row.get_attribute("data-job-id")


def job_row(page: Page, job_id: str) -> Locator:
    return page.locator(f'#jobs li[data-job-id="{job_id}"]')


def expect_job_succeeded(page: Page, job_id: str) -> None:
    row = job_row(page, job_id)
    expect(row).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT_MS)
    expect(row.get_by_test_id("job-progress")).to_have_js_property("value", 100)
    expect(row.locator(".progress-text")).to_have_text(f"done · {STEPS} steps")
    expect(row.get_by_test_id("review-state")).to_have_text("Review: Awaiting review")
    expect(row.get_by_test_id("job-video")).to_be_attached()


def assert_progress_was_streamed(page: Page, frames: list[dict], job_id: str) -> None:
    """The page was open before the job existed: all it showed of the job came over its socket."""
    shown = [row for row in page.evaluate("window.__rows") if row["id"] == job_id]
    running_texts = {row["text"] for row in shown if row["state"] == "running"}
    assert any(re.match(rf"step \d+ of {STEPS} · \d+%", text) for text in running_texts), shown

    events = job_events(frames, job_id)
    states = [event["state"] for event in events]
    assert states[-1] == "succeeded", states
    running = [event for event in events if event["state"] == "running"]
    assert running, f"no running event among {states}"
    steps = [event["step"] for event in running]
    assert steps == sorted(steps) and steps[-1] == STEPS, steps
    assert all(event["total_steps"] == STEPS for event in events)
    assert events[-1]["percent"] == 100
    assert events[-1]["output"]["state"] == "pending"


def approve(page: Page, screenshots: Path) -> str:
    """Approve the tester's video from the review queue; returns the output's id."""
    item = page.get_by_test_id("queue-item").filter(has_text=PROMPT)
    expect(item).to_have_count(1)
    expect(item).to_contain_text(TESTER_EMAIL)
    output_id = item.get_attribute("data-output-id")
    expect(item.locator("video")).to_have_attribute("src", f"/outputs/{output_id}/video.mp4")
    page.screenshot(path=screenshots / "04-review.png", full_page=True)
    item.get_by_test_id("approve").click()
    expect(item.get_by_test_id("result")).to_have_text("Approved")
    expect(item).to_have_attribute("data-decision", "Approved")
    return output_id


def create_share_link(page: Page, job_id: str) -> str:
    job_row(page, job_id).get_by_test_id("output-link").click()
    expect(page).to_have_url(re.compile(r"/outputs/[0-9a-f-]{36}/$"))
    expect(page.get_by_test_id("review-state")).to_have_text("Review: Approved")
    page.get_by_test_id("create-share").click()
    expect(page.locator(".messages")).to_contain_text("Share link created.")
    share_url = page.get_by_test_id("share-url")
    expect(share_url).to_have_count(1)
    return share_url.inner_text().strip()


def expect_video_plays(page: Page) -> None:
    video = page.get_by_test_id("shared-video")
    expect(video).to_be_visible()
    # play() rejects, and evaluate raises, when Chromium cannot decode the file.
    video.evaluate("video => { video.muted = true; return video.play(); }")
    page.wait_for_function(
        "video => video.readyState >= 2 && video.videoWidth > 0 && video.currentTime > 0",
        arg=video.element_handle(),
        timeout=UI_TIMEOUT_MS,
    )


def expect_owner_only(context: BrowserContext, output_id: str) -> None:
    """The private file URL behind the share page turns away whoever is not its owner."""
    response = context.request.get(f"/outputs/{output_id}/video.mp4", max_redirects=0)
    if response.status == 302:
        assert response.headers["location"].startswith(reverse("account_login"))
    else:
        assert response.status == 404, response.status


def test_an_invited_tester_generates_a_video_that_a_reviewer_approves_and_a_stranger_watches(
    asgi_server,
    celery_worker,
    outputs_dir,
    invitation_path,
    published_terms,
    reviewer_totp_secret,
    screenshots,
    chromium,
):
    tester_watch, reviewer_watch, visitor_watch = Watch(), Watch(), Watch()
    tester = studio_context(chromium, asgi_server, tester_watch)
    studio = tester.new_page()
    studio_frames = record_studio_frames(studio)
    sign_up(studio, invitation_path, screenshots)
    accept_terms(studio, screenshots)
    tester_watch.assert_clean()
    expect_live(studio)

    # The form posts and redirects, and the tiny model can finish before the redirected page has
    # connected its socket. So the job is submitted from a second tab, and this one, connected
    # before the job exists, must show all of it live.
    studio.evaluate("window.__notReloaded = true")
    composer = tester.new_page()
    job_id = submit_job(composer)
    composer.close()
    expect_job_succeeded(studio, job_id)
    studio.screenshot(path=screenshots / "03-studio-succeeded.png", full_page=True)
    assert_progress_was_streamed(studio, studio_frames, job_id)

    review = new_context(chromium, asgi_server, reviewer_watch).new_page()
    sign_in_to_review(review, reviewer_totp_secret)
    output_id = approve(review, screenshots)
    reviewer_watch.assert_clean()

    review_state = job_row(studio, job_id).get_by_test_id("review-state")
    expect(review_state).to_have_text("Review: Approved", timeout=UI_TIMEOUT_MS)
    expect(job_row(studio, job_id).get_by_test_id("output-link")).to_have_text("Share…")
    assert studio.evaluate("window.__notReloaded") is True, "the studio page reloaded"
    studio.screenshot(path=screenshots / "05-approved.png", full_page=True)
    share_url = create_share_link(studio, job_id)
    tester_watch.assert_clean()

    visitor = new_context(chromium, asgi_server, visitor_watch)
    shared = visitor.new_page()
    shared.goto(share_url)
    expect(shared.get_by_test_id("credit")).to_have_text(f"By {TESTER_NAME}")
    expect_video_plays(shared)
    shared.screenshot(path=screenshots / "06-share.png", full_page=True)
    visitor_watch.assert_clean()

    expect_owner_only(visitor, output_id)
