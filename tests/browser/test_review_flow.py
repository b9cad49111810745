"""The review queue at speed and the output page an artist lands on, in a real Chromium against
the real ASGI server: the focused clip plays and Space pauses it, a decision collapses with an
Undo, tabs count each state, the bulk selection survives a reload, an invalid filter is reported;
the output page has a large player, Download and Copy share link, at 1440x900 and 390x844.

Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from generation.models import Job
from review.models import Output
from review.services import share_link_create
from tests.browser.conftest import (
    Watch,
    expect_live,
    new_context,
    off_the_event_loop,
    sign_in_to_review,
    sign_in_to_studio,
)
from tests.factories import make_output

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


# What sticks out on the right of the page (named, to say what to fix).
OVERFLOWING = """() => Array.from(document.querySelectorAll("main *"))
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(-5)
  .map(el => `${el.tagName}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)"""


def no_horizontal_scroll(page: Page) -> None:
    overflowing = page.evaluate(OVERFLOWING)
    assert not overflowing, f"{page.url} scrolls sideways: {overflowing}"
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), page.url


def is_paused(page: Page, output_id: str) -> bool:
    return page.evaluate(
        "id => document.querySelector(`[data-output-id='${id}'] video`).paused", output_id
    )


@pytest.fixture
def queue_items(tester, outputs_dir) -> list[str]:
    """Three videos awaiting review (oldest first) and one already rejected."""
    ids = []
    for prompt in ("a heron in the reeds", "rain on a tin roof", "a paper boat"):
        output = make_output(tester)
        Job.objects.filter(id=output.job_id).update(prompt=prompt)
        ids.append(str(output.id))
    make_output(tester, state=Output.State.REJECTED)
    return ids


def test_a_reviewer_plays_decides_undoes_selects_and_filters_the_queue(
    asgi_server, queue_items, reviewer_totp_secret, screenshots, chromium
):
    first, second, _third = queue_items
    watch = Watch()
    review = new_context(chromium, asgi_server, watch).new_page()
    review.set_viewport_size(DESKTOP)
    sign_in_to_review(review, reviewer_totp_secret)
    expect_live(review)
    expect(review.get_by_test_id("tab-pending")).to_contain_text("3")
    expect(review.get_by_test_id("tab-rejected")).to_contain_text("1")
    expect(review.get_by_test_id("tab-all")).to_contain_text("4")

    # On arrival the first item has the focus (claimed only once the reviewer moves or decides)
    # and its clip plays by itself, muted and looping; Space pauses and resumes it.
    item = review.locator(f'[data-output-id="{first}"]')
    expect(item).to_be_focused()
    expect(item.get_by_test_id("claim")).to_have_text("")
    review.wait_for_function(
        "id => !document.querySelector(`[data-output-id='${id}'] video`).paused", arg=first
    )
    assert review.evaluate(
        "id => { const v = document.querySelector(`[data-output-id='${id}'] video`);"
        " return v.muted && v.loop; }",
        first,
    )
    review.keyboard.press(" ")
    assert is_paused(review, first)
    review.keyboard.press(" ")
    review.wait_for_function(
        "id => !document.querySelector(`[data-output-id='${id}'] video`).paused", arg=first
    )

    # A decision collapses the item and offers Undo; Undo puts it back, focused and claimed.
    review.keyboard.press("a")
    expect(item).to_have_attribute("data-decision", "Approved")
    expect(item.locator("video")).to_be_hidden()
    expect(item.get_by_test_id("undo")).to_be_visible()
    review.screenshot(path=screenshots / "review-undo-1440.png", full_page=True)
    item.get_by_test_id("undo").click()
    expect(item.get_by_test_id("result")).to_contain_text("Undone")
    expect(item.locator("video")).to_be_visible()
    expect(item).to_be_focused()
    state = off_the_event_loop(lambda: Output.objects.get(id=first).state)
    assert state == Output.State.PENDING

    # The next decision closes the previous Undo; the selection survives a reload.
    review.keyboard.press("j")
    expect(review.locator(f'[data-output-id="{second}"]')).to_be_focused()
    approve_selected = review.get_by_role("button", name="Approve selected")
    expect(approve_selected).to_be_hidden()  # nothing selected: the bar's actions are folded
    review.keyboard.press("x")
    expect(approve_selected).to_be_visible()
    expect(review.get_by_test_id("selected-count")).to_have_text("1")
    review.reload()
    expect(review.get_by_test_id("selected-count")).to_have_text("1")
    expect(review.locator(f'[data-output-id="{second}"]').get_by_test_id("select")).to_be_checked()
    expect(review.get_by_test_id("bulk-bar")).to_be_visible()
    review.screenshot(path=screenshots / "review-queue-1440.png", full_page=True)

    # On a phone the queue fits the screen.
    review.set_viewport_size(PHONE)
    no_horizontal_scroll(review)
    review.screenshot(path=screenshots / "review-queue-390.png", full_page=True)
    review.set_viewport_size(DESKTOP)

    # The rejected tab lists the decided item; a filter that matches nothing offers a way out.
    review.get_by_test_id("tab-rejected").click()
    expect(review.get_by_test_id("queue-item")).to_have_count(1)
    expect(review.get_by_test_id("decision")).to_contain_text("Rejected")
    review.goto(reverse("review_queue") + "?min_age_hours=1000")
    review.get_by_test_id("clear-filters").click()
    expect(review.get_by_test_id("queue-item")).to_have_count(3)

    # An invalid value is reported on the page, named, with the same way out.
    bad = reverse("review_queue") + "?state=maybe"
    response = review.goto(bad)
    assert response is not None and response.status == 400
    expect(review.get_by_test_id("invalid-filters")).to_contain_text("state: Unknown tab maybe")
    review.screenshot(path=screenshots / "review-invalid-filter-1440.png", full_page=True)
    review.get_by_test_id("clear-filters").click()
    expect(review.get_by_test_id("tab-pending")).to_have_attribute("aria-current", "page")
    assert watch.failures == [f"GET {asgi_server}{bad} -> 400"]


def test_enter_in_the_bulk_note_rejects_only_with_a_reason_and_a_refused_reject_frees_the_keys(
    asgi_server, queue_items, reviewer_totp_secret, screenshots, chromium
):
    first, second, _third = queue_items
    watch = Watch()
    review = new_context(chromium, asgi_server, watch).new_page()
    bulk_posts: list[str] = []
    review.on("request", lambda r: bulk_posts.append(r.url) if "/bulk" in r.url else None)
    sign_in_to_review(review, reviewer_totp_secret)
    expect_live(review)
    item = review.locator(f'[data-output-id="{first}"]')
    expect(item).to_be_focused()

    # r, Enter with no reason: refused, and the keys are the item's again, so c asks for changes
    # (it once typed into the reason list and picked "Copyrighted material").
    review.keyboard.press("r")
    expect(item.get_by_test_id("reject-reason")).to_be_focused()
    review.keyboard.press("Enter")
    expect(item.get_by_test_id("result")).to_have_class(re.compile(r"\berror\b"))
    expect(item).to_be_focused()
    review.keyboard.press("c")
    expect(item.get_by_test_id("note")).to_be_focused()
    expect(item.get_by_test_id("reject-reason")).to_have_value("")
    review.keyboard.type("less fog")
    review.keyboard.press("Enter")
    expect(item).to_have_attribute("data-decision", "Needs changes")

    # Enter in the bulk note sends nothing without a reason, and the reject with one.
    expect(review.locator(f'[data-output-id="{second}"]')).to_be_focused()
    review.keyboard.press("x")
    note = review.get_by_label("Note for the selected")
    note.fill("duplicate of an earlier clip")
    note.press("Enter")
    review.get_by_label("Reason to reject the selected").select_option(index=1)
    note.press("Enter")
    expect(review.get_by_text("Decided 1 item.")).to_be_visible()
    review.screenshot(path=screenshots / "review-bulk-enter-1440.png", full_page=True)
    assert len(bulk_posts) == 1, bulk_posts
    state = off_the_event_loop(lambda: Output.objects.get(id=second).state)
    assert state == Output.State.REJECTED
    assert [f.split(" -> ")[1] for f in watch.failures] == ["409"], watch.failures


@pytest.fixture
def shared_output(tester, outputs_dir) -> tuple[str, str]:
    output = make_output(tester, state=Output.State.APPROVED)
    link = share_link_create(output=output, by=tester)
    return str(output.id), reverse("shared_page", kwargs={"token": link.token})


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440", "390"])
def test_the_output_page_has_a_large_player_download_and_copy_share_link(
    asgi_server, shared_output, screenshots, chromium, viewport
):
    output_id, share_path = shared_output
    watch = Watch()
    context = new_context(chromium, asgi_server, watch)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=asgi_server)
    page = context.new_page()
    page.set_viewport_size(viewport)
    sign_in_to_studio(page)
    page.goto(reverse("output_detail", kwargs={"output_id": output_id}))

    player = page.get_by_test_id("output-video")
    expect(player).to_be_visible()
    box = player.bounding_box()
    assert box is not None and box["width"] > 128 * 2, box
    download = page.get_by_test_id("download")
    expect(download).to_have_attribute("download", f"vernissage-{output_id}.mp4")
    expect(page.get_by_test_id("parameters")).to_contain_text("Seed")
    page.get_by_test_id("copy-share").click()
    expect(page.get_by_text("Copied to the clipboard.").first).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == f"{asgi_server}{share_path}"
    no_horizontal_scroll(page)
    page.screenshot(path=screenshots / f"output-page-{viewport['width']}.png", full_page=True)
    watch.assert_clean()
