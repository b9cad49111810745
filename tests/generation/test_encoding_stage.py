"""The worker's two stages (`generation.worker`): the task renders a job and hands its frames to
the encoding stage, which marks, encodes, stores and finalizes it while the next job renders.

Driven in this process with the demo model, as a worker child drives them: `job_execute` is the
task's body. The stage's thread writes to the database, so the data must be committed
(`transaction=True`). What a real worker does when it is killed mid-encode is in
tests/integration/test_encode_crash.py.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from generation import worker
from generation.models import Job
from generation.pipeline.video import VideoEncodingError
from generation.services import job_cancel, job_start, jobs_reconcile, jobs_stop_for
from review.models import Output
from tests.factories import make_job, mark_dispatched
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


@pytest.fixture
def stage(demo_model, outputs_dir):
    """This process's encoding stage, finished and stopped after the test (its thread's database
    connection closed with it)."""
    yield worker.encoding_stage
    assert worker.encoding_stage.stop(timeout=120), "the encoding stage did not drain"


class HeldEncode:
    """Stands in for the stage's encode: waits until released, then encodes for real."""

    def __init__(self, real) -> None:
        self.real = real
        self.jobs: list = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, job: Job, spec, frames):
        self.jobs.append(job.id)
        self.entered.set()
        self.release.wait(timeout=30)
        return self.real(job, spec, frames)

    def wait_until_encoding(self) -> None:
        assert self.entered.wait(timeout=60), "no job reached the encoding stage"


@pytest.fixture
def held(stage, monkeypatch) -> HeldEncode:
    encode = HeldEncode(worker._encode_and_store)
    monkeypatch.setattr(worker, "_encode_and_store", encode)
    yield encode
    encode.release.set()


def _dispatched(owner, prompt: str = "a lighthouse") -> Job:
    return mark_dispatched(make_job(owner, prompt=prompt))


def _execute(job: Job) -> str:
    """The task's body, as a worker child runs it for the job's message."""
    return worker.job_execute(job_id=job.id, dispatch_id=job.dispatch_id, worker="test-worker")


def _final(*jobs: Job) -> list[Job]:
    ids = [job.id for job in jobs]

    def all_final():
        rows = {job.id: job for job in Job.objects.filter(id__in=ids, state__in=Job.FINAL_STATES)}
        return len(rows) == len(ids) and [rows[job_id] for job_id in ids]

    final = wait_for(all_final, 60, f"{len(ids)} jobs to end")
    assert worker.encoding_stage.drain(timeout=60), "the stage did not finish"  # files settled
    return final


def _stored_files() -> list[Path]:
    return sorted(path for path in Path(storages["outputs"].location).rglob("*") if path.is_file())


# --- overlap -------------------------------------------------------------------------------------


def test_the_next_job_renders_while_the_previous_one_is_encoded(tester, held):
    first, second = _dispatched(tester, "first"), _dispatched(tester, "second")

    assert _execute(first) == worker.RENDERED  # the task returns once the stage holds the job
    held.wait_until_encoding()
    assert _execute(second) == worker.RENDERED  # claimed and rendered to its last step meanwhile

    rows = {job.prompt: job for job in Job.objects.all()}
    assert (rows["first"].state, rows["first"].progress_step) == (Job.State.RUNNING, 4)
    assert (rows["second"].state, rows["second"].progress_step) == (Job.State.RUNNING, 4)
    assert rows["second"].started_at is not None
    assert not Output.objects.exists()  # neither is finished: the first is still being encoded

    held.release.set()
    done = _final(first, second)
    assert [job.state for job in done] == [Job.State.SUCCEEDED] * 2
    assert held.jobs == [first.id, second.id]  # encoded in the order they were rendered
    assert Output.objects.count() == 2


def test_a_job_waiting_for_the_encoder_when_cancelled_is_never_encoded(tester, held):
    first, second = _dispatched(tester, "first"), _dispatched(tester, "second")
    _execute(first)
    held.wait_until_encoding()
    _execute(second)  # rendered; waits for the stage

    job_cancel(job=Job.objects.get(id=second.id), by=tester)
    held.release.set()

    done = _final(first, second)
    assert [job.state for job in done] == [Job.State.SUCCEEDED, Job.State.CANCELLED]
    assert held.jobs == [first.id]
    assert list(Output.objects.values_list("job_id", flat=True)) == [first.id]


def _stop(how: str, job: Job, owner) -> None:
    if how == "cancel":
        job_cancel(job=Job.objects.get(id=job.id), by=owner)
    else:  # containment's step for jobs, inside its transaction
        with transaction.atomic():
            jobs_stop_for(owner_ids=[owner.id], reason="a leak")


@pytest.mark.parametrize("how", ["cancel", "contain"])
def test_a_job_stopped_while_it_is_encoded_is_not_succeeded_and_keeps_no_files(
    tester, stage, monkeypatch, how
):
    real = worker._encode_and_store

    def encode_then_stop(job, spec, frames):
        fields = real(job, spec, frames)  # both files are in storage now
        _stop(how, job, tester)
        return fields

    monkeypatch.setattr(worker, "_encode_and_store", encode_then_stop)
    job = _dispatched(tester)

    _execute(job)

    [done] = _final(job)
    assert (done.state, done.gpu_seconds) == (Job.State.CANCELLED, 0.0)
    assert not Output.objects.exists()
    assert _stored_files() == []


def test_an_encode_that_fails_fails_its_job_and_the_stage_goes_on(tester, stage, monkeypatch):
    real = worker._encode_and_store
    calls: list[int] = []

    def broken_once(job, spec, frames):
        calls.append(1)
        if len(calls) == 1:
            raise VideoEncodingError("ffmpeg exited with 1: Conversion failed!")
        return real(job, spec, frames)

    monkeypatch.setattr(worker, "_encode_and_store", broken_once)
    first, second = _dispatched(tester, "first"), _dispatched(tester, "second")

    _execute(first)
    _execute(second)

    failed, succeeded = _final(first, second)
    assert failed.state == Job.State.FAILED
    assert (
        failed.error
        == "Generation failed (VideoEncodingError): ffmpeg exited with 1: Conversion failed!."
    )
    assert succeeded.state == Job.State.SUCCEEDED


# --- exactly once, durably -----------------------------------------------------------------------


def test_a_job_is_succeeded_only_once_its_files_are_on_disk(tester, stage, monkeypatch):
    events: list[tuple] = []
    real_fsync, real_finalize = os.fsync, worker.job_finalize

    def fsync(descriptor: int) -> None:
        real_fsync(descriptor)
        events.append(("flushed", os.readlink(f"/proc/self/fd/{descriptor}")))

    def finalize(*, job, output_fields, gpu_seconds):
        video = Path(storages["outputs"].path(output_fields["video_name"])).resolve()
        poster = Path(storages["outputs"].path(output_fields["poster_name"])).resolve()
        intact = hashlib.sha256(video.read_bytes()).hexdigest() == output_fields["sha256"]
        events.append(("finalize", str(video), intact, poster.exists()))
        return real_finalize(job=job, output_fields=output_fields, gpu_seconds=gpu_seconds)

    monkeypatch.setattr("generation.worker.os.fsync", fsync)
    monkeypatch.setattr(worker, "job_finalize", finalize)
    job = _dispatched(tester)

    _execute(job)

    [done] = _final(job)
    assert done.state == Job.State.SUCCEEDED
    video = Path(storages["outputs"].path(done.output.video_name)).resolve()
    *before, last = events
    assert last == ("finalize", str(video), True, True)
    flushed = {path for kind, path, *_ in before if kind == "flushed"}
    assert {str(video), str(video.with_name("poster.jpg")), str(video.parent)} <= flushed


def test_gpu_seconds_charge_the_render_and_not_the_encode(tester, stage, monkeypatch):
    # The worker's clock jumps an hour while the job is encoded: none of it may be charged.
    skew = [0.0]
    clock = SimpleNamespace(monotonic=lambda: time.monotonic() + skew[0], sleep=time.sleep)
    monkeypatch.setattr(worker, "time", clock)
    real = worker._encode_and_store

    def an_hour_long_encode(job, spec, frames):
        skew[0] += 3600.0
        return real(job, spec, frames)

    monkeypatch.setattr(worker, "_encode_and_store", an_hour_long_encode)
    job = _dispatched(tester)

    _execute(job)

    [done] = _final(job)
    assert done.state == Job.State.SUCCEEDED
    assert 0.0 < done.gpu_seconds < 3600.0


# --- liveness and recovery -----------------------------------------------------------------------


def test_a_job_keeps_beating_while_it_is_encoded(tester, held, settings):
    settings.JOB_HEARTBEAT_SECONDS = 1
    job = _dispatched(tester)
    _execute(job)
    held.wait_until_encoding()
    first = Job.objects.get(id=job.id).heartbeat_at

    # A new timestamp, not a later one: this VM's wall clock is sometimes stepped back.
    wait_for(
        lambda: Job.objects.get(id=job.id).heartbeat_at != first, 30, "a beat during the encode"
    )
    assert worker.heartbeats.holds(Job.objects.get(id=job.id))

    held.release.set()
    _final(job)
    assert not worker.heartbeats.holds(Job.objects.get(id=job.id))


def test_a_worker_process_finishes_its_encodes_before_it_exits(tester, held):
    job = _dispatched(tester)
    _execute(job)
    held.wait_until_encoding()

    assert worker.finish_encoding(timeout=0.1) is False  # still encoding: not done
    assert Job.objects.get(id=job.id).state == Job.State.RUNNING
    held.release.set()
    assert worker.finish_encoding(timeout=60) is True
    assert Job.objects.get(id=job.id).state == Job.State.SUCCEEDED  # final when it returns


def test_a_pool_child_finishes_its_encodes_on_its_way_out(monkeypatch):
    from celery.signals import worker_process_shutdown

    import generation.tasks  # noqa: F401  (connects the receiver, as the worker's import does)

    finished: list[float | None] = []
    monkeypatch.setattr(
        "generation.tasks.finish_encoding", lambda timeout: finished.append(timeout)
    )

    worker_process_shutdown.send(sender="gpu-demo@host", pid=os.getpid(), exitcode=0)

    assert len(finished) == 1


def test_a_job_whose_worker_died_during_its_encode_runs_again(tester, settings, dispatched):
    # What a worker that died mid-encode leaves: a rendered run, its message acked, silent.
    job = _dispatched(tester)
    worker_job = job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="dead")
    silent = timezone.now() - timedelta(seconds=settings.JOB_STALL_SECONDS + 1)
    Job.objects.filter(id=job.id).update(progress_step=worker_job.steps, heartbeat_at=silent)

    assert jobs_reconcile().requeued_stalled == 1
    again = Job.objects.get(id=job.id)
    assert (again.state, again.attempt) == (Job.State.QUEUED, 1)
    assert again.dispatch_id not in (None, job.dispatch_id)  # sent again, as a new message


def test_a_job_whose_worker_died_during_its_last_encode_fails(tester, settings, dispatched):
    settings.JOB_MAX_ATTEMPTS = 1
    job = _dispatched(tester)
    job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="dead")
    silent = timezone.now() - timedelta(seconds=settings.JOB_STALL_SECONDS + 1)
    Job.objects.filter(id=job.id).update(progress_step=4, heartbeat_at=silent)

    jobs_reconcile()

    failed = Job.objects.get(id=job.id)
    assert failed.state == Job.State.FAILED
    assert failed.error == "The worker stopped during this job 1 times; giving up."
    assert not Output.objects.exists()


# --- off the worker's path -----------------------------------------------------------------------


def test_finishing_a_job_on_the_worker_publishes_no_queue_positions(
    tester, other_tester, stage, monkeypatch
):
    """The dispatcher tells waiting testers where they stand (it is woken by the finish); the
    worker never computes the queue (that took up to 294 ms per job with 60 waiting)."""
    computed: list[str] = []
    monkeypatch.setattr(
        "generation.services.dispatch.publish_queue_positions",
        lambda *, model_name: computed.append(model_name),
    )
    for n in range(3):
        make_job(other_tester, prompt=f"waiting {n}")
    job = _dispatched(tester)

    _execute(job)

    [done] = _final(job)
    assert done.state == Job.State.SUCCEEDED
    assert computed == []
