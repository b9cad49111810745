"""The generation engine against a real Celery worker: fair turns, cancel, crash recovery.

Each test starts its own worker for a "demo-slow" model (the demo weights, allowed enough steps for
a job to take a second or more), so there is time to look at, cancel or kill a job mid-run. The
model has one GPU slot: one job running plus one waiting in the worker's prefetch buffer.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config.celery import app as celery_app
from generation.models import Job
from generation.services import job_cancel
from generation.tasks import run_job
from review.models import Output
from tests.conftest import ManagedProcess, worker_command
from tests.factories import submit_job
from tests.integration.conftest import pool_child, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("running_dispatcher"),
]

MODEL = "demo-slow"
QUEUE = f"gpu.{MODEL}"
# Small frames keep the VAE decode cheap (it costs more than all the steps at 256 px); the steps
# give time to watch, cancel or kill a run between two of them.
LONG = {"num_frames": 9, "width": 128, "height": 128, "steps": 40}
MEDIUM = {"num_frames": 9, "width": 128, "height": 128, "steps": 16}
SHORT = {"num_frames": 9, "width": 64, "height": 64, "steps": 2}
RUN_LOG = re.compile(r"generation\.run_job\[([0-9a-f-]+)\] succeeded in [0-9.e-]+s: '([^']*)'")


@pytest.fixture
def slow_model(settings, demo_model) -> dict:
    model = {
        "name": MODEL,
        "source": str(demo_model),
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "slots": 1,
        "defaults": {**SHORT, "guidance": 5},
        "limits": {"num_frames": 17, "width": 256, "height": 256, "steps": 40, "guidance": 5},
    }
    settings.VERNISSAGE_MODELS = [model]
    return model


@pytest.fixture
def start_worker(
    stack_env, slow_model, artifacts_dir, request
) -> Iterator[Callable[[str], ManagedProcess]]:
    """Starts real workers for the slow model's queue (one pool child each); stops them after."""
    workers: list[ManagedProcess] = []
    _purge_queue()  # a message left by an earlier test must not reach this test's worker

    def start(name: str = "engine") -> ManagedProcess:
        worker = ManagedProcess(
            f"{name} worker",
            worker_command(QUEUE, f"{name}@%h"),
            {**stack_env, "VERNISSAGE_MODELS": json.dumps([slow_model])},
            artifacts_dir / f"{request.node.name}-{name}-{os.getpid()}.log",
        )
        workers.append(worker)
        worker.wait_for_output(" ready.", timeout=60)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    _purge_queue()


def _purge_queue() -> None:
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(QUEUE)


def _submit(owner, prompt: str, shape: dict) -> Job:
    return submit_job(owner, model_name=MODEL, prompt=prompt, **shape)


def _wait_final(jobs: list[Job], timeout: float = 60) -> list[Job]:
    ids = [job.id for job in jobs]

    def all_final():
        final = Job.objects.filter(id__in=ids, state__in=Job.FINAL_STATES)
        return len(final) == len(ids) and sorted(final, key=lambda job: ids.index(job.id))

    return wait_for(all_final, timeout, f"{len(ids)} jobs to finish")


def _running(job: Job, *, attempt: int = 1, step: int = 2) -> Job:
    return wait_for(
        lambda: Job.objects.filter(
            id=job.id, state=Job.State.RUNNING, attempt=attempt, progress_step__gte=step
        ).first(),
        60,
        f"{job.prompt} to reach step {step} of attempt {attempt}",
    )


def _task_runs(worker: ManagedProcess) -> list[tuple[str, str]]:
    """(task id, what it returned) for each task the worker ran to the end, in order.

    Celery logs "Task generation.run_job[<id>] succeeded in 1.2s: 'stopped'" for every run that
    returned, whatever the job's outcome ("rendered": handed to the encoding stage, which
    finishes the job; "stopped", "not runnable", ...).
    """
    return RUN_LOG.findall(worker.output())


def _task_results(worker: ManagedProcess, count: int) -> list[str]:
    """What the runs returned, once there are at least `count` (a job's row is final a moment
    before Celery logs its run)."""
    wait_for(lambda: len(_task_runs(worker)) >= count, 60, f"{count} task runs in the worker log")
    return [result for _, result in _task_runs(worker)]


def _stored_files(outputs_dir: Path) -> list[str]:
    return sorted(str(path.relative_to(outputs_dir)) for path in outputs_dir.rglob("*.*"))


# --- fair turns --------------------------------------------------------------------------------


def test_one_testers_backlog_does_not_block_the_others_first_jobs(
    make_user, start_worker, outputs_dir
):
    start_worker()
    dora, ada, bob, cleo = (
        make_user(f"{name}@example.com") for name in ("dora", "ada", "bob", "cleo")
    )
    # Dora fills the model's one slot: D1 runs, D2 waits in the worker's prefetch buffer. While
    # D1 runs, Ada queues three jobs, then Bob and Cleo one each: all five wait in the database,
    # so every later turn is a dispatch decision taken when a job finishes.
    d1 = _submit(dora, "D1", LONG)
    d2 = _submit(dora, "D2", SHORT)
    # Both must be handed out before the backlog arrives: a dispatcher slower than this test
    # would otherwise weigh D2 against A1 in one decision (and rightly give A1 the turn).
    wait_for(
        lambda: Job.objects.filter(id=d2.id, dispatched_at__isnull=False).exists(),
        30,
        "the woken dispatcher to hand out D2",
    )
    _running(d1, step=0)  # claimed: its worker now loads the model and renders 40 steps
    backlog = [
        _submit(ada, "A1", SHORT),
        _submit(ada, "A2", SHORT),
        _submit(ada, "A3", SHORT),
        _submit(bob, "B1", SHORT),
        _submit(cleo, "C1", SHORT),
    ]
    assert not Job.objects.filter(id__in=[job.id for job in backlog], dispatched_at__isnull=False)
    assert Job.objects.get(id=d1.id).state == Job.State.RUNNING, "D1 ended before the backlog"

    jobs = _wait_final([d1, d2, *backlog], timeout=120)

    # Each finish frees one place and the next turn goes to the tester served least: A1 (oldest
    # of three testers never served), then B1 and C1 (served none, Ada one), then Ada's backlog.
    # First come, first served would give A1, A2, A3, B1, C1: Bob and Cleo behind Ada's backlog.
    assert all(job.state == Job.State.SUCCEEDED for job in jobs), [job.error for job in jobs]
    started = Job.objects.order_by("started_at").values_list("prompt", flat=True)
    assert list(started) == ["D1", "D2", "A1", "B1", "C1", "A2", "A3"]


# --- cancel ------------------------------------------------------------------------------------


def test_a_cancelled_queued_job_never_starts(tester, start_worker, outputs_dir):
    worker = start_worker()
    running = _submit(tester, "runs", MEDIUM)
    handed_out = _submit(tester, "in the worker's queue", SHORT)  # its message is sent
    waiting = _submit(tester, "in the database", SHORT)  # the slot is full: no message yet
    wait_for(
        lambda: Job.objects.filter(id=handed_out.id, dispatched_at__isnull=False).exists(),
        30,
        "the woken dispatcher to hand out the second job",
    )
    assert Job.objects.get(id=waiting.id).dispatched_at is None
    _running(running, step=1)

    job_cancel(job=waiting, by=tester)
    job_cancel(job=handed_out, by=tester)

    # The worker still receives the handed-out job's message after the running job: it refuses it.
    assert _task_results(worker, 2) == ["rendered", "not runnable"]
    _wait_final([running])  # its encoding stage finishes it after the task returned
    for job in (handed_out, waiting):
        job.refresh_from_db()
        assert (job.state, job.attempt, job.started_at, job.worker) == ("cancelled", 0, None, "")
    assert list(Output.objects.values_list("job_id", flat=True)) == [running.id]


def test_a_cancelled_running_job_stops_at_its_next_step_and_keeps_nothing(
    tester, start_worker, outputs_dir
):
    worker = start_worker()
    job = _submit(tester, "a long walk", LONG)
    _running(job, step=2)

    cancelled = job_cancel(job=job, by=tester)

    # "stopped": the step callback ended the render (no further step, no decode, no encode);
    # a worker that rendered on would report "superseded" when it could not finish the job.
    assert _task_results(worker, 1) == ["stopped"]
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.error == "Cancelled by you."
    assert job.progress_step == cancelled.progress_step < job.steps
    assert job.gpu_seconds == 0
    assert not Output.objects.exists()
    assert _stored_files(outputs_dir) == []


# --- crash recovery ----------------------------------------------------------------------------


# Fault injection: on the PostgreSQL pass only (the longest test of the suite). The SQLite pass
# keeps one child kill (tests/integration/test_worker_crash.py): recovery on the embedded engine.
@pytest.mark.postgres_pass
@pytest.mark.timeout(900)  # five fresh pool children load the pipeline: minutes on a busy machine
def test_killing_the_worker_child_mid_job_five_times_finishes_each_job_once(
    tester, start_worker, outputs_dir, settings
):
    # The redelivered message is what is under test: a fresh pool child can take longer than
    # the stall window to load the pipeline on a loaded machine, and the dispatcher's
    # requeue of a silent run (tested below) would then win instead.
    settings.JOB_STALL_SECONDS = 3600
    worker = start_worker()
    jobs = [_submit(tester, f"job {n}", MEDIUM) for n in range(5)]
    killed: list = []

    def lone_first_attempt() -> Job | None:
        # Only while no other job is in the child's encoding stage (rendered, its message acked):
        # it would die too, which the stall check recovers (tests/integration/test_encode_crash.py)
        # A killed job waiting for its message to come back stays RUNNING mid-render: no matter.
        running = list(Job.objects.filter(state=Job.State.RUNNING))
        victims = [
            job
            for job in running
            if job.attempt == 1 and job.progress_step >= 2 and job.id not in killed
        ]
        encoding = [job for job in running if job.progress_step == job.steps]
        if not victims or any(job.id != victims[0].id for job in encoding):
            return None
        return victims[0]

    # Kill whichever job is mid-render on its first attempt, until every job has been killed once.
    # A killed job's message goes back to Redis (acks late + reject on worker lost) and a fresh
    # pool child runs it again as attempt 2, while other first attempts get killed in turn.
    while len(killed) < len(jobs):
        victim = wait_for(
            lone_first_attempt, 60, f"a first attempt to kill (killed {len(killed)} so far)"
        )
        os.kill(pool_child(worker), signal.SIGKILL)
        killed.append(victim.id)

    finished = _wait_final(jobs, timeout=120)
    assert [(job.state, job.attempt) for job in finished] == [("succeeded", 2)] * 5, [
        job.error for job in finished
    ]
    assert sorted(Output.objects.values_list("job_id", flat=True)) == sorted(killed)
    assert _stored_files(outputs_dir) == sorted(
        f"{tester.id}/{job.id}/2/{name}" for job in jobs for name in ("poster.jpg", "video.mp4")
    )
    assert worker.output().count("exited with 'signal 9 (SIGKILL)'") == 5
    assert _task_results(worker, 5) == ["rendered"] * 5


def _kill_whole_worker(worker: ManagedProcess) -> None:
    """SIGKILL the worker's parent and child together, so neither can requeue or ack the message."""
    child = pool_child(worker)
    # Stopped first, the parent cannot react to its child's death (requeue the message).
    os.kill(worker.process.pid, signal.SIGSTOP)
    os.kill(child, signal.SIGKILL)
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=10)


@pytest.mark.postgres_pass  # fault injection (see above)
def test_a_job_whose_whole_worker_died_is_dispatched_again_and_finishes_once(
    tester, start_worker, outputs_dir, settings
):
    dead = start_worker("engine-dead")
    job = _submit(tester, "a lighthouse in fog", LONG)
    first_run = _running(job, step=2)

    _kill_whole_worker(dead)
    settings.JOB_STALL_SECONDS = 2  # now, not before: the live worker beats every 5 s
    # The dead worker's message stays unacknowledged in Redis until the visibility timeout (half an
    # hour). Send its late twin now, ahead of the reconciler's message, so the next worker gets it
    # first: it carries the old dispatch_id and must be ignored.
    late = run_job.apply_async(args=[str(job.id), str(first_run.dispatch_id)], queue=QUEUE)
    # The running dispatcher's reconciler notices the silent run and dispatches the job again.
    requeued = wait_for(
        lambda: (
            Job.objects.filter(id=job.id, state=Job.State.QUEUED, attempt=1)
            .exclude(dispatch_id=None)
            .exclude(dispatch_id=first_run.dispatch_id)
            .first()
        ),
        30,
        "the reconciler to requeue and dispatch the dead run",
    )
    assert requeued.dispatch_id not in (None, first_run.dispatch_id)
    settings.JOB_STALL_SECONDS = 3600  # the fresh worker's first beat may take a while to come
    fresh = start_worker("engine-fresh")
    [final] = _wait_final([job], timeout=60)
    assert (final.state, final.attempt, final.dispatch_id) == (
        "succeeded",
        2,
        requeued.dispatch_id,
    ), final.error
    assert final.worker.startswith("engine-fresh@")
    assert Output.objects.filter(job=final).count() == 1
    assert _task_results(fresh, 2) == ["not runnable", "rendered"]
    assert _task_runs(fresh)[0][0] == late.id  # the late twin was the one refused
