"""Nothing lost, nothing stuck: lost messages, silent runs, outages, files without rows.

The broker is the real Redis (the test database's); only the Celery send is captured
(`dispatched`), which is exactly what a crash between commit and send looks like.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from generation import worker
from generation.broker import UNACKED_KEY, message_ids
from generation.models import Job
from generation.services import job_start, jobs_dispatch, jobs_reconcile
from generation.worker import Heartbeat, describe_failure, finalize_or_discard
from review.models import Output
from review.services import output_files_sweep
from tests.factories import make_job, make_output

pytestmark = pytest.mark.django_db


def _broker() -> redis.Redis:
    return redis.Redis.from_url(django_settings.CELERY_BROKER_URL)


@pytest.fixture
def unacked():
    """Put a job's message in the broker's unacked set, as a worker holding it would."""
    tags: list[str] = []

    def hold(job: Job) -> None:
        tag = f"test-{uuid.uuid4()}"
        message = {"headers": {"id": str(job.dispatch_id)}, "body": ""}
        _broker().hset(UNACKED_KEY, tag, json.dumps([message, "", "gpu.demo"]))
        tags.append(tag)

    yield hold
    if tags:
        _broker().hdel(UNACKED_KEY, *tags)


def _dispatched_ago(job: Job, seconds: float) -> None:
    Job.objects.filter(id=job.id).update(dispatched_at=timezone.now() - timedelta(seconds=seconds))


# --- lost messages ------------------------------------------------------------------------------


def test_a_job_dispatched_but_never_sent_is_dispatched_again_within_seconds(
    tester, dispatched, settings
):
    make_job(tester)
    [job] = jobs_dispatch(model_name="demo")  # committed; the send never happened (no on_commit)
    assert dispatched == []
    _dispatched_ago(job, settings.JOB_MESSAGE_GRACE_SECONDS + 1)

    report = jobs_reconcile()

    again = Job.objects.get(id=job.id)
    assert (report.redispatched_lost, report.dispatched) == (1, 1)
    assert again.dispatch_id not in (None, job.dispatch_id)


def test_a_job_whose_message_a_worker_holds_is_left_alone(tester, dispatched, unacked, settings):
    make_job(tester)
    [job] = jobs_dispatch(model_name="demo")
    unacked(job)
    _dispatched_ago(job, settings.JOB_MESSAGE_GRACE_SECONDS + 60)

    report = jobs_reconcile()

    assert report.redispatched_lost == 0
    assert Job.objects.get(id=job.id).dispatch_id == job.dispatch_id


def test_a_just_dispatched_job_is_given_time_to_reach_the_broker(tester, dispatched):
    make_job(tester)
    [job] = jobs_dispatch(model_name="demo")

    assert jobs_reconcile().redispatched_lost == 0
    assert Job.objects.get(id=job.id).dispatch_id == job.dispatch_id


def test_when_the_broker_cannot_be_read_only_the_long_timeout_counts(tester, dispatched, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    make_job(tester)
    [job] = jobs_dispatch(model_name="demo")
    _dispatched_ago(job, settings.JOB_MESSAGE_GRACE_SECONDS + 60)

    assert message_ids(["gpu.demo"]) is None
    assert jobs_reconcile().redispatched_lost == 0
    _dispatched_ago(job, settings.JOB_DISPATCH_TIMEOUT_SECONDS + 1)
    assert jobs_reconcile().redispatched_lost == 1


def test_the_broker_reports_the_ids_of_waiting_and_held_messages(tester, dispatched, unacked):
    make_job(tester)
    [job] = jobs_dispatch(model_name="demo")
    queue = f"gpu.test-{uuid.uuid4()}"
    waiting = {"headers": {"id": "waiting-id"}, "body": ""}
    _broker().lpush(queue, json.dumps(waiting), b"not json")
    unacked(job)
    try:
        ids = message_ids([queue])
    finally:
        _broker().delete(queue)

    assert ids is not None and {"waiting-id", str(job.dispatch_id)} <= ids


# --- silent runs --------------------------------------------------------------------------------


def _running(tester) -> Job:
    make_job(tester)
    [job] = jobs_dispatch(model_name="demo")
    started = job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w")
    assert started is not None
    return started


def test_a_run_silent_past_the_stall_window_is_requeued(tester, dispatched, settings):
    job = _running(tester)
    silent_since = timezone.now() - timedelta(seconds=settings.JOB_STALL_SECONDS + 1)
    Job.objects.filter(id=job.id).update(heartbeat_at=silent_since)

    assert jobs_reconcile().requeued_stalled == 1
    assert Job.objects.get(id=job.id).state == Job.State.QUEUED


def test_a_slow_run_that_still_beats_is_not_taken_for_dead(tester, dispatched, settings):
    job = _running(tester)
    long_ago = timezone.now() - timedelta(seconds=settings.JOB_STALL_SECONDS * 10)
    # No step for a long time (a long VAE decode or encode), but its heartbeat is fresh.
    Job.objects.filter(id=job.id).update(updated_at=long_ago, heartbeat_at=timezone.now())

    assert jobs_reconcile().requeued_stalled == 0
    assert Job.objects.get(id=job.id).state == Job.State.RUNNING


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_a_running_job_beats_from_its_own_thread_while_the_worker_is_busy(tester, settings):
    settings.JOB_HEARTBEAT_SECONDS = 1
    job = _running(tester)
    first = Job.objects.get(id=job.id).heartbeat_at

    with Heartbeat(job):
        deadline = time.monotonic() + 30
        while Job.objects.get(id=job.id).heartbeat_at == first and time.monotonic() < deadline:
            time.sleep(0.2)  # the main thread is "busy" (rendering); the heartbeat is not

    # A new timestamp was written: a beat. Not `>`: this VM's wall clock is sometimes stepped
    # back (seen in CI: a beat a second later stored an earlier time).
    assert Job.objects.get(id=job.id).heartbeat_at != first


# --- the dispatcher outlives outages -------------------------------------------------------------


def test_the_dispatcher_waits_out_a_database_outage_with_one_line_each_way(
    monkeypatch, caplog, settings
):
    judged: list[bool] = []
    handlers: list = []

    def reconcile(*, judge_stalls: bool):
        judged.append(judge_stalls)
        if len(judged) in (2, 3, 4):
            raise OperationalError("connection refused")
        if len(judged) == 6:
            handlers[0]()  # SIGTERM

        class Quiet:
            pass

        return Quiet()

    monkeypatch.setattr("generation.management.commands.dispatcher.jobs_reconcile", reconcile)
    monkeypatch.setattr("generation.management.commands.dispatcher._pause", lambda outage: 0.01)
    monkeypatch.setattr(
        "generation.management.commands.dispatcher.signal.signal",
        lambda sig, handler: handlers.append(lambda: handler(sig, None)),
    )
    settings.JOB_STALL_SECONDS = 3600  # no tick of this test is a whole stall window after it

    with caplog.at_level(logging.WARNING, logger="generation.dispatcher"):
        call_command("dispatcher")

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "waiting for an outage to end" in lines[0] and "back after" in lines[1]
    # Stalls are judged until the outage is seen (tick 2 found out by failing), then neither
    # during it nor right after it: heartbeats could not be written while the database was away.
    assert judged == [True, True, False, False, False, False]


def test_right_after_an_outage_silent_runs_are_not_requeued(tester, dispatched, settings):
    job = _running(tester)
    silent_since = timezone.now() - timedelta(seconds=settings.JOB_STALL_SECONDS + 1)
    Job.objects.filter(id=job.id).update(heartbeat_at=silent_since)

    assert jobs_reconcile(judge_stalls=False).requeued_stalled == 0
    assert Job.objects.get(id=job.id).state == Job.State.RUNNING
    assert jobs_reconcile().requeued_stalled == 1


# --- files and rows ------------------------------------------------------------------------------


def test_a_storage_failure_reads_without_server_paths():
    exc = OSError(
        errno.ENOSPC, "No space left on device", "/srv/vernissage/outputs/7/x/1/video.mp4"
    )

    reason = describe_failure(exc)

    assert "storage is full" in reason and "/srv" not in reason and "outputs" not in reason


def _stored(job: Job) -> dict:
    storage = storages["outputs"]
    folder = f"{job.owner_id}/{job.id}/{job.attempt}"
    storage.save(f"{folder}/video.mp4", ContentFile(b"mp4"))
    storage.save(f"{folder}/poster.jpg", ContentFile(b"jpg"))
    return {
        "video_name": f"{folder}/video.mp4",
        "poster_name": f"{folder}/poster.jpg",
        "sha256": "0" * 64,
        "size_bytes": 3,
        "width": 64,
        "height": 64,
        "num_frames": 9,
        "fps": 8,
    }


def test_a_finalize_that_fails_inside_its_transaction_leaves_no_files(
    tester, dispatched, outputs_dir, monkeypatch
):
    job = _running(tester)
    fields = _stored(job)

    def broken(**kwargs):
        raise ValueError("a bug while registering the output")

    monkeypatch.setattr("generation.worker.output_register", broken)

    with pytest.raises(ValueError):
        finalize_or_discard(job, fields, gpu_seconds=1.0)

    storage = storages["outputs"]
    assert not storage.exists(fields["video_name"]) and not storage.exists(fields["poster_name"])
    assert Job.objects.get(id=job.id).state == Job.State.RUNNING
    assert not Output.objects.filter(job_id=job.id).exists()


@pytest.mark.django_db(transaction=True)  # the retry closes the broken connection
def test_a_finalize_waits_out_a_short_database_outage(tester, dispatched, outputs_dir, monkeypatch):
    job = _running(tester)
    fields = _stored(job)
    real = worker.job_finalize
    tries: list[int] = []

    def flaky(**kwargs):
        tries.append(1)
        if len(tries) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr("generation.worker.job_finalize", flaky)
    monkeypatch.setattr("generation.worker.time.sleep", lambda seconds: None)

    assert finalize_or_discard(job, fields, gpu_seconds=1.0) == Job.State.SUCCEEDED

    assert len(tries) == 3
    assert storages["outputs"].exists(fields["video_name"])
    assert Job.objects.get(id=job.id).attempt == 1  # no attempt spent on the outage
    assert Output.objects.filter(job_id=job.id).count() == 1


@pytest.mark.django_db(transaction=True)  # the retry closes the broken connection
def test_a_commit_that_landed_unseen_keeps_its_files(tester, dispatched, outputs_dir, monkeypatch):
    """The commit reached the database but its answer was lost: the retry finds the job already
    succeeded, and the files its row names must stay."""
    job = _running(tester)
    fields = _stored(job)
    real = worker.job_finalize
    tries: list[int] = []

    def lost_answer(**kwargs):
        tries.append(1)
        result = real(**kwargs)
        if len(tries) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return result

    monkeypatch.setattr("generation.worker.job_finalize", lost_answer)
    monkeypatch.setattr("generation.worker.time.sleep", lambda seconds: None)

    assert finalize_or_discard(job, fields, gpu_seconds=1.0) == Job.State.SUCCEEDED

    assert len(tries) == 2
    assert storages["outputs"].exists(fields["video_name"])
    assert storages["outputs"].exists(fields["poster_name"])
    assert Output.objects.filter(job_id=job.id).count() == 1


def test_a_finalize_whose_outcome_stays_unknown_keeps_the_files_for_the_sweeper(
    tester, dispatched, outputs_dir, monkeypatch, settings
):
    settings.JOB_FINALIZE_WAIT_SECONDS = 0
    job = _running(tester)
    fields = _stored(job)

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("generation.worker.job_finalize", database_gone)

    with pytest.raises(OperationalError):
        finalize_or_discard(job, fields, gpu_seconds=1.0)

    # Never a row without its file: with the commit's fate unknown the files stay; no row names
    # them, so the sweeper removes them after its grace period.
    assert storages["outputs"].exists(fields["video_name"])
    assert not Output.objects.filter(job_id=job.id).exists()
    assert output_files_sweep(grace=timedelta(0)) == 2


def test_a_finalized_run_keeps_its_files_and_has_exactly_one_output(
    tester, dispatched, outputs_dir
):
    job = _running(tester)
    fields = _stored(job)

    assert finalize_or_discard(job, fields, gpu_seconds=1.0) == Job.State.SUCCEEDED

    assert storages["outputs"].exists(fields["video_name"])
    assert Output.objects.filter(job_id=job.id).count() == 1


def test_the_sweeper_removes_old_files_no_row_names_and_nothing_else(tester, outputs_dir):
    kept = make_output(tester)
    orphan_job = make_job(tester)
    orphan = _stored(orphan_job)
    fresh_job = make_job(tester)
    fresh = _stored(fresh_job)
    old = time.time() - 2 * 3600
    for name in (orphan["video_name"], orphan["poster_name"], kept.video_name):
        path = Path(storages["outputs"].path(name))
        if path.exists():
            os.utime(path, (old, old))

    assert output_files_sweep() == 2

    storage = storages["outputs"]
    assert not storage.exists(orphan["video_name"]) and not storage.exists(orphan["poster_name"])
    assert storage.exists(fresh["video_name"])  # too young: a finalize may still be committing
    assert storage.exists(kept.video_name)
