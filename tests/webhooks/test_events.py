"""Events come from the lower apps' signals (`generation.signals.job_changed`,
`review.signals.output_decided`), sent where jobs start and end and where decisions are made:
each reaches only the owner's own endpoints, with ids and states and nobody else's data."""

from __future__ import annotations

import json

import pytest

from generation.services import job_cancel, job_fail, job_retry, job_start
from generation.signals import job_changed
from review.services import output_reject, output_request_changes
from tests.factories import make_job, make_output, mark_dispatched
from webhooks.models import Delivery, EventType

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def bodies(owner) -> list[dict]:
    deliveries = Delivery.objects.filter(endpoint__owner=owner).order_by("created_at")
    return [json.loads(delivery.body) for delivery in deliveries]


def started(job):
    job = mark_dispatched(job)
    return job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="test-worker")


def test_a_job_that_starts_and_fails_sends_both_events(tester, endpoint_for, sent, committed):
    endpoint_for(tester)
    with committed():
        job = started(make_job(tester))
        job_fail(job=job, reason="CUDA out of memory")

    started_event, failed_event = bodies(tester)
    assert started_event["type"] == "job.started"
    assert started_event["data"]["job"]["id"] == str(job.id)
    assert failed_event["type"] == "job.failed"
    assert failed_event["data"]["job"]["state"] == "failed"
    assert failed_event["data"]["job"]["error"] == "CUDA out of memory"
    assert len(sent.messages) == 2


def test_a_cancelled_job_sends_job_cancelled(tester, endpoint_for, sent, committed):
    endpoint_for(tester, events=[EventType.JOB_CANCELLED])
    with committed():
        job_cancel(job=make_job(tester), by=tester)

    assert [body["type"] for body in bodies(tester)] == ["job.cancelled"]


def test_a_requeued_job_sends_nothing(tester, endpoint_for, sent, committed):
    endpoint_for(tester, events=[EventType.JOB_FAILED, EventType.JOB_CANCELLED])
    with committed():
        job = started(make_job(tester))
        job_retry(job=job, reason="worker lost")

    assert bodies(tester) == []


def test_decisions_send_output_events_without_the_reviewers_identity(
    tester, reviewer, endpoint_for, outputs_dir, sent, committed
):
    endpoint_for(tester)
    with committed():
        rejected = output_reject(output=make_output(tester), by=reviewer, reason="Sexual content")
        output_request_changes(output=make_output(tester), by=reviewer, note="Shorter, please.")

    rejected_event, changes_event = bodies(tester)
    assert rejected_event["type"] == "output.rejected"
    assert rejected_event["data"]["output"] == {
        "id": str(rejected.id),
        "job_id": str(rejected.job_id),
        "state": "rejected",
        "reason": "Sexual content",
        "note": None,
        "decided_at": rejected.decided_at.isoformat(),
    }
    assert changes_event["type"] == "output.needs_changes"
    raw = Delivery.objects.values_list("body", flat=True)
    assert not any(reviewer.email in body or f'"{reviewer.id}"' in body for body in raw)


def test_another_testers_events_never_reach_my_endpoint(
    tester, other_tester, endpoint_for, sent, committed
):
    endpoint_for(tester)
    with committed():
        job_cancel(job=make_job(other_tester), by=other_tester)

    assert bodies(tester) == [] and sent.messages == []


def test_a_failing_receiver_of_the_signal_breaks_neither_the_job_nor_the_webhook(
    tester, endpoint_for, sent, committed
):
    def broken(**kwargs):
        raise RuntimeError("a listener with a bug")

    endpoint_for(tester)
    job_changed.connect(broken, dispatch_uid="test-broken")
    try:
        with committed():
            job_cancel(job=make_job(tester), by=tester)
    finally:
        job_changed.disconnect(dispatch_uid="test-broken")

    assert [body["type"] for body in bodies(tester)] == ["job.cancelled"]
