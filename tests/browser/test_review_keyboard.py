"""A reviewer decides a queue with the keyboard alone while the tester's studio shows each decision
live; share links that expired or were revoked say so to whoever opens them.

Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from generation.models import Job
from review.models import Output, ShareLink
from review.services import share_link_create, share_link_revoke
from tests.browser.conftest import (
    TESTER_EMAIL,
    UI_TIMEOUT_MS,
    Watch,
    expect_live,
    job_events,
    new_context,
    record_studio_frames,
    sign_in_to_review,
    sign_in_to_studio,
)
from tests.factories import make_output

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPTS = ("a lighthouse at dusk", "a fox asleep in the snow", "a kite over the dunes")
REJECT_REASON = "Copyrighted material"
CHANGES_NOTE = "Keep the lighthouse, lose the second moon"


@dataclass(frozen=True)
class Item:
    output_id: str
    job_id: str
    prompt: str


@pytest.fixture
def pending_items(tester, outputs_dir) -> list[Item]:
    """Three finished videos of the tester's awaiting review, oldest first."""
    items = []
    for prompt in PROMPTS:
        output = make_output(tester)
        Job.objects.filter(id=output.job_id).update(prompt=prompt)
        items.append(Item(output_id=str(output.id), job_id=str(output.job_id), prompt=prompt))
    return items


@pytest.fixture
def dead_and_live_share_paths(tester, outputs_dir) -> tuple[list[str], str]:
    """Paths of an expired link and of a revoked one to an approved video, and of a live one."""
    output = make_output(tester, state=Output.State.APPROVED)
    tomorrow = timezone.now() + timedelta(days=1)
    expired, revoked, live = [
        share_link_create(output=output, by=tester, expires_at=tomorrow) for _ in range(3)
    ]
    # A link cannot be created already expired: backdate this one instead.
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    share_link_revoke(link=revoked, by=tester)
    dead = [reverse("shared_page", kwargs={"token": link.token}) for link in (expired, revoked)]
    return dead, reverse("shared_page", kwargs={"token": live.token})


def review_state(studio: Page, item: Item) -> Locator:
    return studio.locator(f'#jobs li[data-job-id="{item.job_id}"]').get_by_test_id("review-state")


def queue_item(review: Page, item: Item) -> Locator:
    return review.locator(f'[data-testid=queue-item][data-output-id="{item.output_id}"]')


def expect_current(review: Page, item: Item) -> None:
    """The item has the keyboard's focus and the reviewer's claim."""
    element = queue_item(review, item)
    expect(element).to_be_focused()
    expect(element).to_have_class(re.compile(r"\bfocused\b"))
    expect(element.get_by_test_id("claim")).to_have_text("Claimed by you")


def expect_decided(review: Page, item: Item, decision: str) -> None:
    element = queue_item(review, item)
    expect(element.get_by_test_id("result")).to_have_text(decision)
    expect(element.get_by_test_id("result")).not_to_have_class(re.compile(r"\berror\b"))
    expect(element).to_have_attribute("data-decision", decision)


def expect_queue_in_order(review: Page, items: list[Item]) -> None:
    expect(review.get_by_test_id("queue-item")).to_have_count(len(items))
    ids = [el.get_attribute("data-output-id") for el in review.get_by_test_id("queue-item").all()]
    assert ids == [item.output_id for item in items], "the queue is not oldest first"
    for item in items:
        expect(queue_item(review, item).locator(".prompt")).to_have_text(item.prompt)
        expect(queue_item(review, item)).to_contain_text(f"By {TESTER_EMAIL}")


def choose_reason_by_keyboard(review: Page, item: Item, reason: str, screenshots: Path) -> None:
    """`r` puts the focus on the item's reason list; arrows pick a reason; Enter rejects."""
    select = queue_item(review, item).get_by_test_id("reject-reason")
    review.keyboard.press("r")
    expect(select).to_be_focused()
    for _ in range(settings.REVIEW_REJECT_REASONS.index(reason) + 1):  # past the blank choice
        review.keyboard.press("ArrowDown")
    expect(select).to_have_value(reason)
    review.screenshot(path=screenshots / "10-review-keyboard.png", full_page=True)
    review.keyboard.press("Enter")


def test_a_reviewer_works_through_three_items_with_the_keyboard_while_the_tester_watches(
    asgi_server, pending_items, reviewer_totp_secret, screenshots, chromium
):
    first, second, third = pending_items
    tester_watch, reviewer_watch = Watch(), Watch()
    studio = new_context(chromium, asgi_server, tester_watch).new_page()
    studio_frames = record_studio_frames(studio)
    sign_in_to_studio(studio)
    expect_live(studio)
    for item in pending_items:
        expect(review_state(studio, item)).to_have_text("Review: Awaiting review")
    studio.evaluate("window.__notReloaded = true")

    review = new_context(chromium, asgi_server, reviewer_watch).new_page()
    sign_in_to_review(review, reviewer_totp_secret)
    expect_live(review)
    expect(review.get_by_test_id("shortcuts")).to_be_visible()
    expect(review.get_by_test_id("shortcuts")).to_contain_text("j/k next/previous · a approve")
    expect_queue_in_order(review, pending_items)

    # The first item has the focus on arrival; a decides it (and claims the next).
    expect(queue_item(review, first)).to_be_focused()
    review.keyboard.press("a")
    expect_decided(review, first, "Approved")
    expect(review_state(studio, first)).to_have_text("Review: Approved", timeout=UI_TIMEOUT_MS)

    # A decision moves on to the next item by itself; j and k still move between what is left.
    expect_current(review, second)
    review.keyboard.press("j")
    expect_current(review, third)
    review.keyboard.press("k")
    expect_current(review, second)
    choose_reason_by_keyboard(review, second, REJECT_REASON, screenshots)
    expect_decided(review, second, "Rejected")
    expect(review_state(studio, second)).to_have_text(
        f"Review: Rejected — {REJECT_REASON}", timeout=UI_TIMEOUT_MS
    )

    # c puts the focus in the note; Enter there asks for changes on this item (it once sent the
    # page's bulk form instead: "Decided 0 items", the note lost, the item still claimed).
    expect_current(review, third)
    review.keyboard.press("c")
    note = queue_item(review, third).get_by_test_id("note")
    expect(note).to_be_focused()
    review.keyboard.type(CHANGES_NOTE)
    review.keyboard.press("Enter")
    expect_decided(review, third, "Needs changes")
    expect(review.get_by_text("Decided 0 items")).to_have_count(0)
    expect(review_state(studio, third)).to_have_text("Review: Needs changes", timeout=UI_TIMEOUT_MS)
    expect(studio.get_by_text(f"Reviewer's note: {CHANGES_NOTE}")).to_be_visible()
    studio.screenshot(path=screenshots / "11-tester-live-decisions.png", full_page=True)

    assert studio.evaluate("window.__notReloaded") is True, "the studio page reloaded"
    for item, state in ((first, "approved"), (second, "rejected"), (third, "needs_changes")):
        outputs = [event["output"] for event in job_events(studio_frames, item.job_id)]
        assert outputs and outputs[-1]["state"] == state, f"no live {state} event: {outputs}"
    reviewer_watch.assert_clean()
    tester_watch.assert_clean()


def test_expired_and_revoked_share_links_say_no_longer_available(
    asgi_server, dead_and_live_share_paths, screenshots, chromium
):
    dead_paths, live_path = dead_and_live_share_paths
    watch = Watch()
    visitor = new_context(chromium, asgi_server, watch).new_page()
    for number, path in enumerate(dead_paths):
        response = visitor.goto(path)
        assert response is not None and response.status == 404, path
        expect(visitor.get_by_role("heading")).to_have_text("This video is no longer available")
        expect(visitor.get_by_test_id("shared-video")).to_have_count(0)
        if number == 0:
            visitor.screenshot(path=screenshots / "12-share-unavailable.png", full_page=True)

    # The same video through a link that is still live: the two above died of their own causes.
    response = visitor.goto(live_path)
    assert response is not None and response.status == 200
    expect(visitor.get_by_test_id("shared-video")).to_be_visible()
    expected = [f"GET {asgi_server}{path} -> 404" for path in dead_paths]
    assert watch.failures == expected
