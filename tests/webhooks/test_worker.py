"""A real Celery worker on the `hooks` queue (as the Procfile's CPU process serves it) delivers
an event to the receiver, retrying through the broker after a 500."""

from __future__ import annotations

import os
import time

import pytest

from tests.conftest import running_worker
from webhooks.models import Delivery, EventType
from webhooks.services import endpoint_create, event_emit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def test_a_real_worker_delivers_and_retries(tester, receiver, settings, stack_env, artifacts_dir):
    settings.WEBHOOK_ALLOWED_CIDRS = ["127.0.0.0/8"]
    env = {
        **stack_env,
        "VERNISSAGE_WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8",
        "VERNISSAGE_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    }
    issued = endpoint_create(owner=tester, url=receiver.url, events=[EventType.JOB_SUCCEEDED])
    receiver.script = [500, 200]
    log = artifacts_dir / f"celery-hooks-{os.getpid()}.log"

    with running_worker("hooks", "test-hooks@%h", env, log):
        [delivery] = event_emit(owner_id=tester.id, event_type="job.succeeded", data={"x": 1})
        deadline = time.monotonic() + 60
        while delivery.state == Delivery.State.PENDING and time.monotonic() < deadline:
            time.sleep(0.2)
            delivery.refresh_from_db()

    assert delivery.state == Delivery.State.SUCCEEDED, log.read_text()[-2000:]
    assert delivery.attempts == 2
    assert [body["data"] for body in receiver.verified(issued.secret)] == [{"x": 1}, {"x": 1}]
