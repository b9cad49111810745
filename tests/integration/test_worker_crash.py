"""A worker child killed mid-job does not lose the job: the message comes back and it runs again."""

from __future__ import annotations

import json
import os
import signal

import pytest

from generation.models import Job
from review.models import Output
from tests.conftest import running_worker
from tests.factories import submit_job
from tests.integration.conftest import pool_child, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("running_dispatcher"),
]


def _slow_model(demo_model) -> dict:
    """The demo weights at a size that takes a few seconds per job, so there is time to kill it
    after step 2 (tests/integration/test_engine.py kills jobs of this shape too). It was 17 frames
    of 256 px over 40 steps: two such renders made this the suite's second-longest test."""
    shape = {"num_frames": 9, "width": 128, "height": 128, "steps": 24, "guidance": 5}
    return {
        "name": "demo-slow",
        "source": str(demo_model),
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "defaults": shape,
        "limits": shape,
    }


@pytest.fixture
def slow_worker(stack_env, demo_model, artifacts_dir, settings):
    models = [_slow_model(demo_model)]
    settings.VERNISSAGE_MODELS = models
    # The redelivered message is under test, not the dispatcher's requeue of a silent run: a
    # fresh pool child may take longer than the stall window to load on a loaded machine.
    settings.JOB_STALL_SECONDS = 3600
    with running_worker(
        "gpu.demo-slow",
        "crash-test@%h",
        {**stack_env, "VERNISSAGE_MODELS": json.dumps(models)},
        artifacts_dir / f"celery-crash-worker-{os.getpid()}.log",
    ) as worker:
        yield worker


def test_a_job_whose_worker_child_is_killed_runs_again_and_finishes_once(
    tester, slow_worker, outputs_dir
):
    job = submit_job(tester, model_name="demo-slow", prompt="a glass city at night")
    wait_for(
        lambda: Job.objects.filter(id=job.id, progress_step__gte=2, attempt=1).exists(),
        60,
        "the first attempt to reach step 2",
    )

    os.kill(pool_child(slow_worker), signal.SIGKILL)

    final = wait_for(
        lambda: Job.objects.filter(id=job.id, state__in=Job.FINAL_STATES).first(),
        120,
        "the job to finish after the kill",
    )
    assert final.state == Job.State.SUCCEEDED, final.error
    assert final.attempt == 2
    assert Output.objects.filter(job=final).count() == 1
    assert "WorkerLostError" in slow_worker.output() or "SIGKILL" in slow_worker.output()
