"""A submission never dispatches itself: it wakes the dispatcher, which dispatches at once
(`dispatcher_wake` / `dispatcher_wait` and the dispatcher's loop), against the real Redis."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from access.redis_pool import redis_client
from config.celery import app as celery_app
from generation.management.commands.dispatcher import serve
from generation.models import Job
from generation.services import dispatcher_wait
from generation.services.dispatch import WAKE_KEY
from tests.factories import submit_job
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def wake_key(settings):
    client = redis_client(settings.CELERY_BROKER_URL)
    client.delete(WAKE_KEY)
    yield client
    client.delete(WAKE_KEY)


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """Job ids handed to Celery (the transport is not what these tests are about)."""
    ids: list[str] = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, args, queue, **options: ids.append(args[0])
    )
    return ids


def test_a_submission_wakes_the_dispatcher_and_sends_nothing_itself(
    tester, wake_key, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = submit_job(tester)

    assert sent == []  # the request did not dispatch
    assert Job.objects.get(id=job.id).dispatch_id is None
    assert wake_key.llen(WAKE_KEY) == 1
    assert dispatcher_wait(1) is True  # the dispatcher would wake at once...
    assert dispatcher_wait(0.05) is False  # ...once: the wake-up was consumed


def test_many_submissions_leave_one_pending_wake_up(
    tester, wake_key, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            submit_job(tester)

    assert wake_key.llen(WAKE_KEY) == 1


def test_a_submission_is_accepted_when_redis_cannot_take_the_wake_up(
    tester, settings, sent, django_capture_on_commit_callbacks, caplog
):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        job = submit_job(tester)

    assert Job.objects.get(id=job.id).state == Job.State.QUEUED  # kept: the next tick sends it
    assert "Could not wake the dispatcher" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_dispatches_on_a_wake_up_long_before_its_next_tick(
    tester, other_tester, wake_key, sent, settings
):
    settings.DISPATCH_TICK_SECONDS = 600  # only a wake-up can dispatch within this test
    stop = threading.Event()
    loop = threading.Thread(target=serve, args=(stop,), daemon=True)
    loop.start()
    try:
        first = submit_job(tester)  # may be taken by the first tick or by the wake-up
        wait_for(lambda: str(first.id) in sent, 60, "the first job to be dispatched")
        second = submit_job(other_tester)  # another tester: no per-tester cap in the way
        wait_for(lambda: str(second.id) in sent, 60, "the woken dispatcher to send the job")
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not loop.is_alive()
    assert Job.objects.get(id=second.id).dispatch_id is not None


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_wake_ups_sends_queue_positions_at_most_every_interval_and_the_last_change(
    settings, monkeypatch
):
    """Twenty submissions in a row wake the dispatcher twenty times with no free slot: waiting
    testers get their positions at once, then once more after the interval (not twenty times),
    and that last send comes after the last wake-up."""
    settings.DISPATCH_TICK_SECONDS = 600
    settings.QUEUE_POSITIONS_MIN_INTERVAL_S = 1.0
    stop, wakes, sends = threading.Event(), [], []

    def wait(timeout: float) -> bool:
        if len(wakes) < 20:
            wakes.append(time.monotonic())
            return True
        return stop.wait(timeout) and False

    def positions(*, model_name: str) -> None:
        sends.append(time.monotonic())
        if len(sends) == 2:
            stop.set()

    dispatcher = "generation.management.commands.dispatcher"
    monkeypatch.setattr(f"{dispatcher}.dispatcher_wait", wait)
    monkeypatch.setattr(f"{dispatcher}.jobs_dispatch_woken", lambda positions: ["demo"])
    monkeypatch.setattr(f"{dispatcher}.publish_queue_positions", positions)
    loop = threading.Thread(target=serve, args=(stop,), daemon=True)
    loop.start()
    loop.join(timeout=60)

    assert not loop.is_alive() and len(wakes) == 20
    assert len(sends) == 2
    assert sends[0] <= wakes[1]  # the first wake-up's positions went out at once
    assert sends[1] >= max(wakes) and sends[1] - sends[0] >= 1.0
