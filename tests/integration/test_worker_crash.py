"""A worker child killed mid-job does not lose the job: the message comes back and it runs again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from generation.models import Job
from generation.services import JobRequest, job_submit
from review.models import Output
from tests.conftest import ManagedProcess, running_worker

pytestmark = pytest.mark.django_db(transaction=True)


def _slow_model(demo_model) -> dict:
    """The demo weights at a size that takes seconds per job, so there is time to kill it."""
    return {
        "name": "demo-slow",
        "source": str(demo_model),
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "defaults": {"num_frames": 17, "width": 256, "height": 256, "steps": 40, "guidance": 5},
        "limits": {"num_frames": 17, "width": 256, "height": 256, "steps": 40, "guidance": 5},
    }


@pytest.fixture
def slow_worker(stack_env, demo_model, artifacts_dir, settings):
    models = [_slow_model(demo_model)]
    settings.VERNISSAGE_MODELS = models
    with running_worker(
        "gpu.demo-slow",
        "crash-test@%h",
        {**stack_env, "VERNISSAGE_MODELS": json.dumps(models)},
        artifacts_dir / f"celery-crash-worker-{os.getpid()}.log",
    ) as worker:
        yield worker


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _pool_child(worker: ManagedProcess) -> int:
    children = subprocess.run(
        ["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(children) == 1, children
    return int(children[0])


def test_a_job_whose_worker_child_is_killed_runs_again_and_finishes_once(
    tester, slow_worker, outputs_dir
):
    job, _ = job_submit(
        owner=tester, request=JobRequest(model_name="demo-slow", prompt="a glass city at night")
    )
    _wait(
        lambda: Job.objects.filter(id=job.id, progress_step__gte=2, attempt=1).exists(),
        60,
        "the first attempt to reach step 2",
    )

    os.kill(_pool_child(slow_worker), signal.SIGKILL)

    final = _wait(
        lambda: Job.objects.filter(id=job.id, state__in=Job.FINAL_STATES).first(),
        120,
        "the job to finish after the kill",
    )
    assert final.state == Job.State.SUCCEEDED, final.error
    assert final.attempt == 2
    assert Output.objects.filter(job=final).count() == 1
    assert "WorkerLostError" in slow_worker.output() or "SIGKILL" in slow_worker.output()
