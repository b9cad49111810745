"""A reviewer loses review access while the queue is open: at the next review event the server
closes the page's socket with 4403, and the page says live updates stopped and stops reconnecting,
while everything else on it stays usable.

Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import WebSocket, expect

from access.models import User
from access.roles import REVIEWERS
from review.models import Output
from review.services import output_claim
from tests.browser.conftest import (
    REVIEWER_EMAIL,
    Watch,
    expect_live,
    new_context,
    off_the_event_loop,
    sign_in_to_review,
)
from tests.factories import make_output

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OTHER_REVIEWER_EMAIL = "otto@vernissage.local"
# live.js retries a dropped socket within 500 ms; three times that, and nothing may have opened.
NO_RECONNECT_WAIT_MS = 1_500


@pytest.fixture
def pending_output(make_user, outputs_dir) -> Output:
    return make_output(make_user("ada@example.com"))


@pytest.fixture
def other_reviewer(make_user) -> User:
    return make_user(OTHER_REVIEWER_EMAIL, reviewer=True)


def lose_review_access() -> None:
    reviewer = User.objects.get(email=REVIEWER_EMAIL)
    reviewer.groups.remove(Group.objects.get(name=REVIEWERS))


def test_a_reviewer_who_loses_access_sees_live_updates_stop_and_the_queue_stops_reconnecting(
    asgi_server, pending_output, other_reviewer, reviewer_totp_secret, screenshots, chromium
):
    watch = Watch()
    review = new_context(chromium, asgi_server, watch).new_page()
    sockets: list[WebSocket] = []
    review.on("websocket", lambda socket: sockets.append(socket))
    sign_in_to_review(review, reviewer_totp_secret)
    expect_live(review)
    item = review.locator(f'[data-testid=queue-item][data-output-id="{pending_output.id}"]')
    expect(item.get_by_test_id("claim")).to_have_text("")

    off_the_event_loop(lose_review_access)
    # Another reviewer's claim is a review event; the socket re-checks its user before passing it
    # on, and closes with 4403 instead.
    off_the_event_loop(lambda: output_claim(output=pending_output, by=other_reviewer))

    notice = review.get_by_test_id("live-stopped")
    expect(notice).to_contain_text("Live updates stopped because your review access ended")
    expect(notice).to_contain_text("Reload the page to see where you stand.")
    status = review.locator("#live-status")
    expect(status).to_have_attribute("data-state", "ended")
    expect(status).to_have_text("access ended")
    expect(item.get_by_test_id("claim")).to_have_text("")  # the event was not passed on
    review.screenshot(path=screenshots / "30-review-live-stopped.png", full_page=True)

    opened = len(sockets)
    review.wait_for_timeout(NO_RECONNECT_WAIT_MS)
    assert opened == 1 and len(sockets) == opened, "the queue opened another socket after a 4403"
    assert sockets[-1].is_closed()
    controls = review.locator("main").locator("button, input, select")
    assert controls.count() >= 5, "the queue's controls are not on the page"
    for control in controls.all():
        expect(control).to_be_enabled()
    watch.assert_clean()
