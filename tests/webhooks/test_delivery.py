"""Deliveries (`webhooks.services`: event_emit, delivery_attempt, delivery_replay) against a real
HTTP receiver: signatures, retries with backoff, the attempt limit, timeouts, redirects, replay,
and owners whose access has ended."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from containment.services import tester_revoke as revoke  # not collected as a test
from webhooks.models import Delivery, EventType
from webhooks.services import (
    WebhookError,
    delivery_replay,
    endpoint_rotate,
    endpoint_update,
    event_emit,
    retry_delay,
)

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

DATA = {"job": {"id": "00000000-0000-0000-0000-000000000001", "state": "succeeded"}}


def emit(committed, owner, event_type=EventType.JOB_SUCCEEDED, data=DATA) -> list[Delivery]:
    with committed():
        return event_emit(owner_id=owner.id, event_type=event_type, data=data)


def test_a_delivery_is_signed_as_standard_webhooks_says(
    tester, endpoint_for, receiver, sent, committed
):
    issued = endpoint_for(tester)
    emit(committed, tester)

    assert sent.drain() == ["succeeded"]
    [body] = receiver.verified(issued.secret)
    assert body["type"] == "job.succeeded" and body["data"] == DATA and body["timestamp"]
    request = receiver.requests[0]
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    assert request.path == "/hooks"


def test_a_wrong_secret_does_not_verify(tester, endpoint_for, receiver, sent, committed):
    endpoint_for(tester)
    emit(committed, tester)
    sent.drain()

    with pytest.raises(ValueError, match="no signature matches"):
        receiver.verified("whsec_" + "A" * 44)


def test_only_subscribed_events_are_delivered(tester, endpoint_for, receiver, sent, committed):
    endpoint_for(tester, events=[EventType.OUTPUT_APPROVED])

    assert emit(committed, tester, EventType.JOB_FAILED) == []
    assert len(emit(committed, tester, EventType.OUTPUT_APPROVED)) == 1


def test_a_disabled_endpoint_receives_nothing(tester, endpoint_for, sent, committed):
    endpoint = endpoint_for(tester).endpoint
    endpoint_update(endpoint=endpoint, by=tester, enabled=False)

    assert emit(committed, tester) == [] and sent.messages == []


def test_server_errors_are_retried_with_growing_jittered_waits(
    tester, endpoint_for, receiver, sent, committed
):
    issued = endpoint_for(tester)
    receiver.script = [500, 503, 200]
    [delivery] = emit(committed, tester)

    outcomes = sent.drain()

    delivery.refresh_from_db()
    assert outcomes == ["pending", "pending", "succeeded"]
    assert delivery.state == Delivery.State.SUCCEEDED and delivery.attempts == 3
    log = list(delivery.attempt_log.values_list("number", "status_code"))
    assert log == [(1, 500), (2, 503), (3, 200)]
    assert delivery.attempt_log.first().response_snippet == "receiver says no"
    # Every attempt is the same message: same id and body, freshly signed.
    assert {each.headers["webhook-id"] for each in receiver.requests} == {delivery.message_id}
    assert len(receiver.verified(issued.secret)) == 3


def test_the_captured_waits_follow_the_backoff(tester, endpoint_for, receiver, sent, committed):
    endpoint_for(tester)
    receiver.script = [500, 500, 500]
    emit(committed, tester)
    waits = []
    for _ in range(3):
        waits.append(sent.messages[0][2])
        sent.drain(limit=1)

    assert waits[0] == 0.0  # the first attempt goes at once
    assert 0.5 <= waits[1] <= 1.0 and 2.0 <= waits[2] <= 4.0  # base 1 s x 4^(n-1), jittered


def test_retry_delays_are_capped(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10.0
    settings.WEBHOOK_RETRY_MAX_SECONDS = 60.0

    assert all(30.0 <= retry_delay(attempt) <= 60.0 for attempt in range(3, 12))


def test_no_retry_after_the_attempt_limit(
    settings, tester, endpoint_for, receiver, sent, committed
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    endpoint_for(tester)
    receiver.script = [500] * 10
    [delivery] = emit(committed, tester)

    outcomes = sent.drain()

    delivery.refresh_from_db()
    assert outcomes == ["pending", "pending", "failed"]
    assert delivery.state == Delivery.State.FAILED and delivery.finished_at is not None
    assert len(receiver.requests) == 3 and sent.messages == []


def test_a_timeout_is_logged_and_retried(tester, endpoint_for, receiver, sent, committed):
    endpoint_for(tester)
    receiver.script = ["hang", 200]
    [delivery] = emit(committed, tester)

    outcomes = sent.drain()

    assert outcomes == ["pending", "succeeded"]
    first = delivery.attempt_log.get(number=1)
    assert first.status_code is None and "No answer within 0.5 s" in first.error


def test_an_answer_dripped_a_byte_at_a_time_is_cut_at_the_timeout(
    tester, endpoint_for, receiver, sent, committed
):
    """Each byte comes well within the socket timeout; the attempt as a whole may not take
    longer than WEBHOOK_TIMEOUT_SECONDS (0.5 s here; the whole answer takes 4 s)."""
    endpoint_for(tester)
    receiver.script = ["drip"]
    [delivery] = emit(committed, tester)

    assert sent.drain(limit=1) == ["pending"]
    first = delivery.attempt_log.get(number=1)
    assert first.status_code is None and "No answer within 0.5 s" in first.error


def test_a_redirect_is_not_followed(settings, tester, endpoint_for, receiver, sent, committed):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint_for(tester)
    receiver.script = [302]
    [delivery] = emit(committed, tester)

    assert sent.drain() == ["failed"]
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 302 and "not followed" in attempt.error
    assert len(receiver.requests) == 1


def test_a_duplicate_message_sends_nothing_twice(tester, endpoint_for, receiver, sent, committed):
    endpoint_for(tester)
    emit(committed, tester)
    sent.messages.append(sent.messages[0])  # the broker delivered it twice

    assert sent.drain() == ["succeeded", "stale"]
    assert len(receiver.requests) == 1


def test_a_replay_sends_the_same_message_again(
    settings, tester, endpoint_for, receiver, sent, committed
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    issued = endpoint_for(tester)
    receiver.script = [500]
    [delivery] = emit(committed, tester)
    sent.drain()

    with committed():
        replay = delivery_replay(delivery=delivery, by=tester)
    assert sent.drain() == ["succeeded"]

    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED  # the log keeps what happened
    assert replay.replay_of == delivery and replay.message_id == delivery.message_id
    first, second = receiver.requests
    assert first.body == second.body and len(receiver.verified(issued.secret)) == 2


def test_a_pending_delivery_cannot_be_replayed(tester, endpoint_for, sent, committed):
    endpoint_for(tester)
    [delivery] = emit(committed, tester)

    with pytest.raises(WebhookError) as refused:
        delivery_replay(delivery=delivery, by=tester)
    assert "delivery" in refused.value.errors


def test_after_a_rotation_deliveries_are_signed_with_the_new_secret(
    tester, endpoint_for, receiver, sent, committed
):
    issued = endpoint_for(tester)
    rotated = endpoint_rotate(endpoint=issued.endpoint, by=tester)
    emit(committed, tester)
    sent.drain()

    assert rotated.secret != issued.secret
    assert len(receiver.verified(rotated.secret)) == 1
    with pytest.raises(ValueError):
        receiver.verified(issued.secret)


def test_a_revoked_tester_gets_no_deliveries(
    tester, admin, endpoint_for, receiver, sent, committed
):
    endpoint_for(tester)
    [waiting] = emit(committed, tester)  # queued before the revocation
    revoke(tester=tester, by=admin, reason="leaked outputs")
    tester.refresh_from_db()

    assert emit(committed, tester) == []
    assert sent.drain() == ["skipped"]
    waiting.refresh_from_db()
    assert waiting.attempt_log.get().error == "The owner's access has ended."
    assert receiver.requests == []


def test_the_body_is_json_with_type_timestamp_and_data(tester, endpoint_for, sent, committed):
    endpoint_for(tester)
    [delivery] = emit(committed, tester)

    assert set(json.loads(delivery.body)) == {"type", "timestamp", "data"}


def test_a_lost_message_is_sent_again_from_the_database(
    tester, endpoint_for, receiver, sent, committed
):
    endpoint_for(tester)
    [delivery] = emit(committed, tester)
    sent.messages.clear()  # the broker lost it
    stale = timezone.now() - timedelta(minutes=11)
    Delivery.objects.filter(pk=delivery.pk).update(updated_at=stale)

    call_command("webhooks_resend", "--minutes", "10", stdout=io.StringIO())

    assert sent.drain() == ["succeeded"] and len(receiver.requests) == 1


def test_a_delivery_still_in_its_attempt_is_not_sent_again(tester, endpoint_for, sent, committed):
    endpoint_for(tester)
    emit(committed, tester)
    sent.messages.clear()

    call_command("webhooks_resend", "--minutes", "10", stdout=io.StringIO())

    assert sent.messages == []
