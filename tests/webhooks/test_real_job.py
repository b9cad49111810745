"""A real job on the real GPU worker (tiny demo pipeline) and a real review decision reach the
owner's endpoint: job.started and job.succeeded from the worker's process, output.approved from
the reviewer's. The CPU queue's worker is stood in for by the task function (test_worker.py runs
a real one)."""

from __future__ import annotations

import time

import pytest

from generation.models import Job
from review.services import output_approve
from tests.factories import submit_job
from webhooks.models import Delivery, EventType
from webhooks.services import endpoint_create
from webhooks.tasks import deliver

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120, func_only=True),
    pytest.mark.usefixtures("running_dispatcher"),
]


def _wait_final(job: Job, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while not job.is_final and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh_from_db()
    return job


def _wait_deliveries(count: int, timeout: float = 30) -> None:
    """The worker emits a job's events after its commit: the job can read final a moment before
    its last delivery row exists."""
    deadline = time.monotonic() + timeout
    while Delivery.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.1)


def _send_pending() -> list[str]:
    pending = Delivery.objects.filter(state=Delivery.State.PENDING).order_by("created_at")
    return [deliver(str(delivery.id), delivery.attempts + 1) for delivery in pending]


def test_a_real_job_and_its_approval_reach_the_owners_endpoint(
    tester, reviewer, celery_worker, outputs_dir, receiver, settings
):
    settings.WEBHOOK_ALLOWED_CIDRS = ["127.0.0.0/8"]
    issued = endpoint_create(owner=tester, url=receiver.url, events=EventType.values)

    job = _wait_final(submit_job(tester, prompt="a kite over the dunes", steps=4))
    assert job.state == Job.State.SUCCEEDED, job.error
    _wait_deliveries(2)  # job.started and job.succeeded
    output_approve(output=job.output, by=reviewer)

    assert _send_pending() == ["succeeded"] * 3
    received = receiver.verified(issued.secret)
    assert [body["type"] for body in received] == [
        "job.started",
        "job.succeeded",
        "output.approved",
    ]
    assert {body["data"].get("job", {}).get("id") for body in received[:2]} == {str(job.id)}
    assert received[2]["data"]["output"]["job_id"] == str(job.id)
