"""Metrics only a Celery worker knows (its tasks' outcomes and timings), served by each worker on
its own port.

The choice: one port per worker, with prometheus-client's multiprocess mode inside it. A prefork
worker runs tasks in child processes, which write their samples to files in
`PROMETHEUS_MULTIPROC_DIR`; the worker's main process serves the sum of those files on
`VERNISSAGE_WORKER_METRICS_PORT`, and Prometheus scrapes every worker (docker/prometheus.yml). A
child that is replaced (a crash, `--max-tasks-per-child`) keeps its counts in its file. Everything
the database knows (jobs, GPU-seconds, durations) is exported by the web process instead
(`ops.metrics`), so nothing depends on a worker staying up.

Off unless `VERNISSAGE_WORKER_METRICS_PORT` is set; then `PROMETHEUS_MULTIPROC_DIR` must be too
(prometheus-client reads it when first imported, so it comes from the environment).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery import signals
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

RUN_JOB_TASK = "generation.run_job"
# What generation.run_job returns: "rendered" (handed to the worker's encoding stage, which ends
# the job), a final state, or why the message did not (or no longer) run.
JOB_OUTCOMES = {
    "rendered",
    "succeeded",
    "failed",
    "cancelled",
    "stopped",
    "superseded",
    "retrying",
    "retry pending",
    "not runnable",
}
TASK_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

_metrics: dict[str, Any] = {}
_started: dict[str, float] = {}


def connect() -> None:
    """Hook the worker's signals (called at start-up in every process; a no-op unless the port
    is set, so the web process and the dispatcher never touch the metrics files)."""
    if not settings.WORKER_METRICS_PORT:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise ImproperlyConfigured(
            "VERNISSAGE_WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR (a folder of its own)"
        )
    signals.worker_init.connect(_serve, weak=False)
    signals.task_prerun.connect(_task_started, weak=False)
    signals.task_postrun.connect(_task_finished, weak=False)
    signals.worker_process_shutdown.connect(_child_exited, weak=False)


def _define() -> dict[str, Any]:
    from prometheus_client import Counter, Gauge, Histogram

    if not _metrics:
        _metrics["tasks"] = Counter(
            "vernissage_worker_tasks",
            "Tasks this worker finished, by task and outcome (a job task's outcome is how the "
            "job's run ended).",
            ["task", "outcome"],
        )
        _metrics["seconds"] = Histogram(
            "vernissage_worker_task_seconds",
            "Time this worker spent on each task, loading and encoding included.",
            ["task"],
            buckets=TASK_BUCKETS,
        )
        _metrics["busy"] = Gauge(
            "vernissage_worker_busy",
            "Tasks running in this worker now.",
            multiprocess_mode="livesum",
        )
    return _metrics


def _serve(**_: object) -> None:
    """In the worker's main process, before its children start: serve their summed samples."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # an earlier run's children: not this worker's counts
        stale.unlink()
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    start_http_server(settings.WORKER_METRICS_PORT, registry=registry)


def _task_started(task_id: str | None = None, **_: object) -> None:
    if task_id:
        _started[task_id] = time.monotonic()
    _define()["busy"].inc()


def _task_finished(
    task_id: str | None = None,
    task: Any = None,
    retval: object = None,
    state: str | None = None,
    **_: object,
) -> None:
    metrics = _define()
    name = getattr(task, "name", "unknown")
    started = _started.pop(task_id or "", None)
    if started is not None:
        metrics["seconds"].labels(task=name).observe(time.monotonic() - started)
    metrics["busy"].dec()
    is_job_outcome = isinstance(retval, str) and retval in JOB_OUTCOMES
    outcome = str(retval) if name == RUN_JOB_TASK and is_job_outcome else str(state)
    # Last: a scrape that sees the task counted sees its time and the busy gauge settled too.
    metrics["tasks"].labels(task=name, outcome=outcome).inc()


def _child_exited(pid: int | None = None, **_: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid or os.getpid())
