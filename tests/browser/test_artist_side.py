"""The artist's side of fairness in a real Chromium, against the real ASGI server: Ada grants a
request to showcase her video and withdraws it, appeals a rejection, sees a new request, her
appeal's outcome and the lab's answer to her feedback arrive live, and replies in that thread.

Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from access.models import User
from fairness.models import Appeal, ThreadMessage, UseRequest
from fairness.services import appeal_decide, thread_move, use_request_create
from review.models import Feedback, Output
from review.services import feedback_submit, output_reject
from tests.browser.conftest import (
    Watch,
    expect_live,
    new_context,
    off_the_event_loop,
    sign_in_to_studio,
)
from tests.factories import make_output

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def artist_world(tester, admin, make_user, outputs_dir) -> dict:
    rita = make_user("rita@vernissage.local", reviewer=True)
    otto = make_user("otto@vernissage.local", reviewer=True)
    approved = make_output(tester, state=Output.State.APPROVED)
    rejected = output_reject(output=make_output(tester), by=rita, reason="Violence or gore")
    showcase = use_request_create(
        output=approved, purpose="showcase", message="For the launch page?", by=admin
    )
    feedback_submit(output=approved, by=tester, rating=2, notes="The hands melt.")
    return {
        "admin": admin,
        "otto": otto,
        "approved": approved,
        "rejected": rejected,
        "ask": showcase,
    }


def test_the_artist_answers_consent_appeals_and_hears_the_outcomes_live(
    asgi_server, artist_world, screenshots, chromium
):
    watch = Watch()
    page = new_context(chromium, asgi_server, watch).new_page()
    sign_in_to_studio(page)
    page.goto("/artist/")
    expect_live(page)

    request = page.locator(f'[data-testid=use-request][data-request-id="{artist_world["ask"].pk}"]')
    expect(request.get_by_test_id("use-state")).to_have_text("Awaiting your answer")
    request.get_by_test_id("grant").click()
    expect(request.get_by_test_id("use-state")).to_have_text("Granted")
    request.get_by_test_id("withdraw-consent").click()
    expect(request.get_by_test_id("use-state")).to_have_text("Withdrawn")

    rejected = page.locator(
        f'[data-testid=my-output][data-output-id="{artist_world["rejected"].id}"]'
    )
    expect(rejected.get_by_test_id("output-state")).to_contain_text("Violence or gore")
    rejected.get_by_test_id("appeal-note").fill("A painted battle scene, no gore.")
    rejected.get_by_test_id("appeal").click()
    expect(rejected.get_by_test_id("appeal-state")).to_contain_text("by another reviewer")
    expect_live(page)
    page.screenshot(path=screenshots / "40-artist-appealed.png", full_page=True)

    off_the_event_loop(
        lambda: use_request_create(
            output=artist_world["approved"],
            purpose="training",
            message="For the next model?",
            by=artist_world["admin"],
        )
    )
    expect(page.locator("[data-testid=notice][data-kind=use_request]")).to_contain_text(
        "For the next model?"
    )
    off_the_event_loop(
        lambda: appeal_decide(
            appeal=Appeal.objects.get(),
            by=User.objects.get(email="otto@vernissage.local"),
            overturn=True,
            note="Stylised, not graphic.",
        )
    )
    outcome = page.locator("[data-testid=notice][data-kind=appeal]")
    expect(outcome).to_contain_text("Decision overturned")
    expect(outcome).to_contain_text("Reason: Stylised, not graphic.")
    page.screenshot(path=screenshots / "41-artist-live-notices.png", full_page=True)

    page.reload()
    expect(rejected.get_by_test_id("output-state")).to_contain_text("Approved on appeal")
    states = off_the_event_loop(lambda: sorted(UseRequest.objects.values_list("state", flat=True)))
    assert states == ["pending", "withdrawn"]

    expect_live(page)
    off_the_event_loop(
        lambda: thread_move(
            item=Feedback.objects.get(),
            by=User.objects.get(email="otto@vernissage.local"),
            to="investigating",
            note="We can reproduce the hands.",
        )
    )
    expect(page.locator("[data-testid=notice][data-kind=thread]")).to_contain_text(
        "Under investigation"
    )
    page.goto("/threads/")
    thread = page.locator("[data-testid=thread][data-kind=feedback]")
    expect(thread.get_by_test_id("thread-status")).to_contain_text(
        "Under investigation — We can reproduce the hands."
    )
    thread.get_by_test_id("reply-body").fill("It happens with gloves too.")
    thread.get_by_test_id("reply").click()
    expect(thread.get_by_test_id("thread-message")).to_contain_text("It happens with gloves too.")
    page.screenshot(path=screenshots / "42-artist-feedback-thread.png", full_page=True)
    assert off_the_event_loop(lambda: ThreadMessage.objects.get().author.email) == "ada@example.com"
    watch.assert_clean()
