"""A real job, submitted through the API, dispatched and run by a real Celery worker: then the
operator's view of it. /metrics counts it and the worker's log lines carry the request, user, job
and dispatch. The job runs on the session's worker (`celery_worker`, warm when other tests used
it); a second worker of this module, on a queue of its own ("ops-demo"), shows a worker's own
metrics port and JSON log lines, and readiness with a worker on every queue.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from config.celery import app as celery_app
from generation.heartbeat import DISPATCHER_HEARTBEAT_KEY
from generation.models import Job
from generation.services.dispatch import RUN_JOB_TASK
from ops.health import forget_workers
from tests.conftest import ManagedProcess, _free_port, running_worker
from tests.integration.conftest import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120, func_only=True),
    pytest.mark.usefixtures("running_dispatcher"),
]

MODEL = "ops-demo"


def _model(demo_model) -> dict:
    return {
        "name": MODEL,
        "source": str(demo_model),
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "defaults": {"num_frames": 5, "width": 32, "height": 32, "steps": 2, "guidance": 5},
        "limits": {"num_frames": 9, "width": 64, "height": 64, "steps": 4, "guidance": 10},
    }


@pytest.fixture(scope="module")
def ops_worker(stack_env, demo_model, artifacts_dir, tmp_path_factory) -> Iterator[tuple]:
    """A worker with JSON logs and its metrics port, serving only the "ops-demo" queue."""
    port = _free_port()
    env = {
        **stack_env,
        "VERNISSAGE_MODELS": json.dumps([_model(demo_model)]),
        "VERNISSAGE_LOG_FORMAT": "json",
        "VERNISSAGE_WORKER_METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("worker-metrics")),
    }
    log = artifacts_dir / f"celery-ops-worker-{os.getpid()}.log"
    with running_worker(f"gpu.{MODEL}", "ops-test@%h", env, log) as worker:
        yield worker, port


@pytest.fixture
def ops_model(settings, demo_model):
    """This test process knows only "ops-demo", the one model the module's worker serves."""
    settings.VERNISSAGE_MODELS = [_model(demo_model)]
    forget_workers()
    yield
    forget_workers()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _worker_metrics(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return _samples(response.read().decode())


def _json_lines(worker: ManagedProcess) -> list[dict]:
    lines = []
    for line in worker.output().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_a_real_job_shows_in_metrics_and_in_the_workers_log_lines(
    client, tester, celery_worker, outputs_dir
):
    client.force_login(tester)

    response = client.post(
        reverse("api_jobs"),
        {"model": "demo", "prompt": "a lighthouse keeper's cat", "steps": 2},
        content_type="application/json",
        headers={"X-Request-ID": "ops-job-1"},
    )
    assert response.status_code == 201, response.content
    job = wait_for(
        lambda: Job.objects.filter(id=response.json()["id"], state__in=Job.FINAL_STATES).first(),
        60,
        "the job to finish",
    )
    assert job.state == Job.State.SUCCEEDED, job.error

    scraped = _samples(client.get(reverse("metrics")).content.decode())
    assert scraped["vernissage_jobs", (("model", "demo"), ("state", "succeeded"))] == 1
    assert scraped["vernissage_job_duration_seconds_count", (("model", "demo"),)] == 1
    assert scraped["vernissage_job_time_to_start_seconds_count", (("model", "demo"),)] == 1
    assert scraped["vernissage_gpu_seconds_total", (("cohort", "Test cohort"),)] > 0
    assert scraped["vernissage_review_backlog", ()] == 1
    # The session's worker logs for people (console): the same context, as key=value pairs.
    context = (
        f"dispatch_id={job.dispatch_id} job_id={job.id} request_id=ops-job-1 user_id={tester.pk}"
    )
    # The row is committed before the worker's last line is written: wait for that line.
    wait_for(
        lambda: any(
            "Job ended: succeeded" in line and context in line
            for line in celery_worker.output().splitlines()
        ),
        10,
        "the worker's last line about the job, with its context",
    )


def test_a_worker_serves_its_own_metrics_and_logs_json_lines(ops_worker):
    worker, port = ops_worker
    job_id, dispatch_id = str(uuid.uuid4()), str(uuid.uuid4())

    celery_app.send_task(RUN_JOB_TASK, args=[job_id, dispatch_id], queue=f"gpu.{MODEL}")

    task = (("outcome", "not runnable"), ("task", RUN_JOB_TASK))
    own = wait_for(
        lambda: (
            (found := _worker_metrics(port)).get(("vernissage_worker_tasks_total", task)) and found
        ),
        30,
        "the worker to count the task",
    )
    assert own["vernissage_worker_task_seconds_count", (("task", RUN_JOB_TASK),)] == 1
    assert own["vernissage_worker_busy", ()] == 0
    line = wait_for(
        lambda: [
            line
            for line in _json_lines(worker)
            if line.get("job_id") == job_id
            and line["message"] == "Job not runnable by this message"
        ],
        10,
        "the worker's JSON line about the message",
    )[0]
    assert line["dispatch_id"] == dispatch_id
    assert line["level"] == "info" and line["logger"] == "generation.worker"


def test_readiness_is_ok_with_a_worker_on_every_queue_and_a_fresh_dispatcher(
    client, ops_worker, ops_model
):
    cache.set(DISPATCHER_HEARTBEAT_KEY, time.time())

    response = client.get(reverse("health_ready"))

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"
    assert MODEL in response.json()["checks"]["workers"]["detail"]
    cache.delete(DISPATCHER_HEARTBEAT_KEY)
