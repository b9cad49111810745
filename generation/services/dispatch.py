"""Fair dispatch: hand Celery only as many waiting jobs as each model's GPU slots can take.

Celery is transport: a message carries a job's id and its current `dispatch_id`, sent by task
name, so this module never imports the worker.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from access.models import User
from access.redis_pool import SOCKET_TIMEOUT_SECONDS, redis_client
from config.celery import app as celery_app
from config.logs import log_context
from generation.models import Job
from generation.progress import publish_positions
from generation.registry import enabled_models, get_model
from generation.selectors import (
    dispatch_order,
    in_flight_jobs,
    queue_estimates,
    recent_service,
    waiting_heads,
    waiting_jobs,
)

logger = logging.getLogger(__name__)

RUN_JOB_TASK = "generation.run_job"  # generation.tasks.run_job
WAKE_KEY = "vernissage:dispatcher:wake"


def _owner_cap(owner: User) -> int:
    return owner.cohort.max_concurrent_jobs if owner.cohort else settings.STAFF_MAX_CONCURRENT


def jobs_dispatch(*, model_name: str) -> list[Job]:
    """Hand Celery as many of the model's waiting jobs as its GPU slots can take, fairly.

    Each slot gets one running job plus one waiting in the worker's prefetch buffer, so the GPU
    never waits for the database between jobs. Concurrent dispatchers are safe: the per-model
    advisory lock serialises the slot count (PostgreSQL; SQLite serialises all writers) and
    SKIP LOCKED keeps them off each other's rows.
    """
    spec = get_model(model_name)
    if spec is None:
        return []
    with transaction.atomic():
        _lock_model(model_name)
        free = spec.slots * 2 - in_flight_jobs(model_name).count()
        if free <= 0:
            return []
        chosen = _choose(model_name, free)
        now = timezone.now()
        for job in chosen:
            job.dispatch_id, job.dispatched_at = uuid.uuid4(), now
        Job.objects.bulk_update(chosen, ["dispatch_id", "dispatched_at"])
        transaction.on_commit(lambda: _send_all(chosen, spec.queue))
    if chosen:
        transaction.on_commit(lambda: publish_queue_positions(model_name=model_name))
    return chosen


def jobs_dispatch_all() -> int:
    return sum(len(jobs_dispatch(model_name=spec.name)) for spec in enabled_models())


def jobs_dispatch_woken(*, positions: bool = True) -> list[str]:
    """What the dispatcher does when woken: dispatch, and tell the first waiting testers where
    they stand (a new job moves others back even when no slot is free). Returns the models that
    dispatched nothing: their positions are sent here, or with `positions=False` left to the
    caller (the dispatcher sends them at most every QUEUE_POSITIONS_MIN_INTERVAL_S)."""
    undispatched = []
    for spec in enabled_models():
        if not jobs_dispatch(model_name=spec.name):  # a dispatch publishes the positions itself
            undispatched.append(spec.name)
            if positions:
                publish_queue_positions(model_name=spec.name)
    return undispatched


def _lock_model(model_name: str) -> None:
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"dispatch:{model_name}".encode()).digest()[:8], "big")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key - 2**63])


def _choose(model_name: str, free: int) -> list[Job]:
    # Ids first, then lock those rows by primary key: a plan that cannot go wrong on a big queue.
    candidates = list(waiting_heads(model_name, free).values_list("id", flat=True))
    waiting = list(
        waiting_jobs(model_name)
        .filter(id__in=candidates)
        .select_for_update(skip_locked=True, of=("self",))
    )
    owners = {job.owner_id for job in waiting}
    busy = Counter(
        in_flight_jobs(model_name).filter(owner_id__in=owners).values_list("owner_id", flat=True)
    )
    chosen: list[Job] = []
    for job in dispatch_order(waiting, recent_service(owners, settings.FAIR_SHARE_WINDOW)):
        if len(chosen) == free:
            break
        if busy[job.owner_id] < _owner_cap(job.owner):
            busy[job.owner_id] += 1
            chosen.append(job)
    return chosen


def _send_all(jobs: list[Job], queue: str) -> None:
    for job in jobs:
        _send(job, queue)


def _send(job: Job, queue: str) -> None:
    with log_context(**job_log_context(job)):
        _send_logged(job, queue)


def job_log_context(job: Job) -> dict[str, object]:
    """What every log line about `job` carries, in the web, the dispatcher and the worker."""
    return {
        "job_id": job.id,
        "dispatch_id": job.dispatch_id,
        "user_id": job.owner_id,
        "request_id": job.request_id or None,
    }


def _send_logged(job: Job, queue: str) -> None:
    try:
        # The task id is the dispatch id: the reconciler finds each job's message in the broker.
        celery_app.send_task(
            RUN_JOB_TASK,
            args=[str(job.id), str(job.dispatch_id)],
            queue=queue,
            task_id=str(job.dispatch_id),
        )
        logger.info("Job dispatched to %s", queue)
    except Exception:
        # Undo the dispatch: the next dispatch (on completion, or the dispatcher's tick) retries.
        logger.exception("Could not send job %s to queue %s", job.id, queue)
        Job.objects.filter(id=job.id, dispatch_id=job.dispatch_id, state=Job.State.QUEUED).update(
            dispatched_at=None, dispatch_id=None
        )


def publish_queue_positions(*, model_name: str) -> None:
    """Tell the owners of the first waiting jobs where they stand (the rest see it on load)."""
    spec = get_model(model_name)
    if spec is None:
        return
    estimates = queue_estimates(model_name, spec.slots)
    ids = list(estimates)[: settings.QUEUE_POSITION_PUBLISH_LIMIT]
    publish_positions(list(Job.objects.filter(id__in=ids, state=Job.State.QUEUED)), estimates)


# --- waking the dispatcher ---------------------------------------------------------------------


def dispatcher_wake() -> None:
    """Tell the dispatcher that a slot may be usable now (a job was submitted or finished).

    A submission or a finishing worker never dispatches itself: that would make it wait on the
    model's dispatch lock behind every other submitter. The dispatcher, blocked on this key
    between its ticks, dispatches within milliseconds; if the wake-up is lost (Redis away), its
    next tick does the same. Best effort: never raises.
    """
    try:
        with redis_client(settings.CELERY_BROKER_URL).pipeline(transaction=False) as pipe:
            pipe.lpush(WAKE_KEY, 1)
            pipe.ltrim(WAKE_KEY, 0, 0)  # one pending wake-up is as good as many
            pipe.execute()
    except redis.RedisError as exc:
        logger.warning("Could not wake the dispatcher (its next tick will dispatch): %s", exc)


def dispatcher_wait(timeout: float) -> bool:
    """Block until woken or `timeout` seconds pass; True when woken. Redis errors propagate: the
    dispatcher treats them as an outage."""
    seconds = max(0.01, min(timeout, SOCKET_TIMEOUT_SECONDS - 1))
    return redis_client(settings.CELERY_BROKER_URL).blpop([WAKE_KEY], timeout=seconds) is not None
