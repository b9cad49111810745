"""Every transition of a job after submission: claim, progress, finish, retry, cancel, stop
(containment) and the reconciler's recovery.

Every state change goes through `Job.objects.transition` (the one guard of `Job.TRANSITIONS`).
Worker-side transitions are also keyed on (id, state, attempt), so two deliveries of the same
message, a cancelled job or a stale worker can never move a job twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from access.models import User
from access.roles import can_moderate
from access.services import audit_record
from generation import audit
from generation.broker import message_ids
from generation.models import Job
from generation.progress import publish_budget, publish_job
from generation.registry import all_models
from generation.selectors import (
    dispatched_unclaimed,
    overdue_waiting_jobs,
    stalled_running_jobs,
)
from generation.services.dispatch import dispatcher_wake, jobs_dispatch_all
from generation.services.errors import JobRejected
from generation.signals import job_changed_send

logger = logging.getLogger(__name__)


def job_start(*, job_id: UUID, dispatch_id: UUID, worker: str) -> Job | None:
    """Claim a job for one run. Returns None when this message should not run it.

    Only a message carrying the job's current `dispatch_id` may run it. A RUNNING job is claimed
    again only by such a message being redelivered (its worker died); each claim increments
    `attempt`, which fences off the previous run.
    """
    claimed = Job.objects.filter(
        id=job_id, dispatch_id=dispatch_id, attempt__lt=settings.JOB_MAX_ATTEMPTS
    ).transition(
        Job.State.RUNNING,
        attempt=F("attempt") + 1,
        progress_step=0,
        worker=worker[:200],
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    if not claimed:
        _fail_exhausted(job_id, dispatch_id)
        return None
    job = Job.objects.select_related("owner", "owner__cohort").get(id=job_id)
    if not job.owner.may_act():
        _finish(job, state=Job.State.CANCELLED, error="The owner's access has ended.")
        return None
    publish_job(job)
    job_changed_send(job)
    return job


def _fail_exhausted(job_id: UUID, dispatch_id: UUID | None) -> None:
    """Give up on a job whose current dispatch keeps losing its worker. Only that dispatch's own
    message counts: a stale message of an earlier, requeued run must not fail a healthy one."""
    exhausted = Job.objects.filter(
        id=job_id,
        dispatch_id=dispatch_id,
        state=Job.State.RUNNING,
        attempt__gte=settings.JOB_MAX_ATTEMPTS,
    )
    reason = f"The worker stopped during this job {settings.JOB_MAX_ATTEMPTS} times; giving up."
    if exhausted.transition(Job.State.FAILED, error=reason, finished_at=timezone.now()):
        _after_final(Job.objects.get(id=job_id))


def _after_final(job: Job) -> None:
    """A finished job frees a slot: tell its watchers, then wake the dispatcher to hand the slot
    to the next job (the worker's prefetched message keeps the GPU busy meanwhile); and tell
    higher apps (`job_changed`: webhooks)."""
    publish_job(job)
    publish_budget(job.owner)
    dispatcher_wake()
    job_changed_send(job)


def _current_run(job: Job) -> Q:
    return Q(id=job.id, attempt=job.attempt, state=Job.State.RUNNING)


def job_record_progress(*, job: Job, step: int) -> bool:
    """Record a finished denoising step. False means stop: the job was cancelled or superseded."""
    now = timezone.now()
    updated = Job.objects.filter(_current_run(job)).update(
        progress_step=step, updated_at=now, heartbeat_at=now
    )
    if updated:
        job.progress_step = step
        publish_job(job, force=step == job.steps)
    return bool(updated)


def job_heartbeat(*, job: Job) -> bool:
    """The current run is alive (called every JOB_HEARTBEAT_SECONDS while the worker loads,
    denoises, decodes or encodes). False: the run no longer counts (cancelled or superseded)."""
    return bool(Job.objects.filter(_current_run(job)).update(heartbeat_at=timezone.now()))


def job_succeed(*, job: Job, gpu_seconds: float) -> bool:
    """Finish the current run as succeeded, exactly once. False: this run no longer counts.

    The caller (the worker) registers the output for review in the same transaction, so a job is
    never succeeded without its output. `gpu_seconds` (the measured render time) is charged to the
    owner's daily budget; failed and cancelled runs are not charged.
    """
    if not _finish(job, state=Job.State.SUCCEEDED, gpu_seconds=gpu_seconds, publish=False):
        return False
    transaction.on_commit(lambda: _after_final(Job.objects.select_related("output").get(id=job.id)))
    return True


def job_retry(*, job: Job, reason: str) -> bool:
    """Put the current run back in the queue after a transient error; fail it when its attempts
    are used up. Nothing is charged for the failed run. Returns True if it will run again."""
    if job.attempt >= settings.JOB_MAX_ATTEMPTS:
        job_fail(job=job, reason=f"{reason} (gave up after {job.attempt} attempts)")
        return False
    requeued = Job.objects.filter(_current_run(job)).transition(
        Job.State.QUEUED,
        dispatched_at=None,
        dispatch_id=None,
        progress_step=0,
        error=reason[:1000],
    )
    if requeued:
        transaction.on_commit(lambda: _after_final(Job.objects.get(id=job.id)))
    return bool(requeued)


def job_fail(*, job: Job, reason: str) -> bool:
    return _finish(job, state=Job.State.FAILED, error=reason[:1000])


def _finish(
    job: Job, *, state: str, error: str = "", gpu_seconds: float = 0.0, publish: bool = True
) -> bool:
    """The one conditional UPDATE that ends the current run of a job."""
    changes: dict[str, object] = {
        "error": error,
        "gpu_seconds": gpu_seconds,
        "finished_at": timezone.now(),
    }
    if state == Job.State.SUCCEEDED:
        changes["progress_step"] = job.steps
    finished = Job.objects.filter(_current_run(job)).transition(state, **changes)
    if finished and publish:
        transaction.on_commit(lambda: _after_final(Job.objects.get(id=job.id)))
    return bool(finished)


# --- cancel, stop, reconcile -------------------------------------------------------------------


CANCEL_REASON_MAX_CHARS = 500


def job_cancel(*, job: Job, by: User, reason: str = "") -> Job:
    """Cancel a waiting job (it never starts) or a running one (it stops at the next step)."""
    staff = by.id != job.owner_id
    if staff and not can_moderate(by):
        raise PermissionDenied("Only the job's owner or staff can cancel it.")
    reason = reason.strip()[:CANCEL_REASON_MAX_CHARS] or (
        "Cancelled by staff." if staff else "Cancelled by you."
    )
    with transaction.atomic():
        cancelled = Job.objects.filter(id=job.id).transition(
            Job.State.CANCELLED, error=reason, finished_at=timezone.now()
        )
        if not cancelled:
            job.refresh_from_db()
            raise JobRejected({"__all__": [f"This job already ended ({job.state})."]})
        if staff:
            audit_record(
                action=audit.JOB_CANCELLED, actor=by, target=job, details={"reason": reason}
            )
        transaction.on_commit(lambda: _after_final(Job.objects.get(id=job.id)))
    job.refresh_from_db()
    return job


@dataclass(frozen=True)
class Stopped:
    queued: int
    running: int


def jobs_stop_for(*, owner_ids: Iterable[int], reason: str) -> Stopped:
    """Containment step: cancel every queued job of these owners (they never reach a GPU) and
    stop their running ones (the worker sees it at the next denoising step, without decoding).

    Called inside the containment action's transaction, which writes the one audit entry and,
    after commit, hands the freed slots to other testers (`jobs_dispatch_all`).
    """
    why = f"Stopped: the owner's access ended ({reason})."[:1000]
    jobs = Job.objects.filter(owner_id__in=list(owner_ids))
    stop = {"error": why, "finished_at": timezone.now()}
    queued = jobs.filter(state=Job.State.QUEUED).transition(Job.State.CANCELLED, **stop)
    running = jobs.filter(state=Job.State.RUNNING).transition(Job.State.CANCELLED, **stop)
    return Stopped(queued=queued, running=running)


@dataclass(frozen=True)
class ReconcileReport:
    requeued_stalled: int
    redispatched_lost: int
    expired: int
    dispatched: int


def jobs_reconcile(*, judge_stalls: bool = True) -> ReconcileReport:
    """The dispatcher's periodic tick: recover what messages and workers lost, then dispatch.

    - RUNNING with no heartbeat for JOB_STALL_SECONDS: its worker is gone; wait for a new dispatch
      (a late message of the dead run carries the old dispatch_id and is ignored).
    - QUEUED and dispatched, but its message is in neither its queue nor a worker's unacked set
      for JOB_MESSAGE_GRACE_SECONDS: never sent (a crash between commit and send) or lost (a
      Redis restart, a message acknowledged during a database outage); dispatch again. When the
      broker cannot be read, only after JOB_DISPATCH_TIMEOUT_SECONDS.
    - QUEUED past its queue deadline: cancelled with a reason.

    `judge_stalls=False` (the dispatcher, for one stall window after it reached the database
    again): heartbeats could not be written during the outage either, so silence proves nothing
    until the workers had a window to beat again.
    """
    stalled = 0
    if judge_stalls:
        silence = timedelta(seconds=settings.JOB_STALL_SECONDS)
        stalled = _requeue(stalled_running_jobs(silence), Job.State.RUNNING)
    lost = _requeue(_lost_messages(), Job.State.QUEUED)
    expired = 0
    for job in overdue_waiting_jobs():
        moved = Job.objects.filter(id=job.id, state=Job.State.QUEUED).transition(
            Job.State.CANCELLED,
            finished_at=timezone.now(),
            error="Waited longer than the queue allows; cancelled. Submit it again if you like.",
        )
        expired += moved
        expired_job = Job.objects.get(id=job.id)
        publish_job(expired_job)
        if moved:
            job_changed_send(expired_job)
    return ReconcileReport(stalled, lost, expired, jobs_dispatch_all())


def _lost_messages() -> list[Job]:
    waiting = list(dispatched_unclaimed(timedelta(seconds=settings.JOB_MESSAGE_GRACE_SECONDS)))
    if not waiting:
        return []
    present = message_ids({spec.queue for spec in all_models()})
    if present is None:  # the broker cannot tell us: fall back to the long timeout
        cutoff = timezone.now() - timedelta(seconds=settings.JOB_DISPATCH_TIMEOUT_SECONDS)
        return [job for job in waiting if job.dispatched_at and job.dispatched_at < cutoff]
    return [job for job in waiting if str(job.dispatch_id) not in present]


def _requeue(jobs: Iterable[Job], state: str) -> int:
    count = 0
    for job in jobs:
        if job.state == Job.State.RUNNING and job.attempt >= settings.JOB_MAX_ATTEMPTS:
            _fail_exhausted(job.id, job.dispatch_id)
            continue
        count += Job.objects.filter(id=job.id, state=state, dispatch_id=job.dispatch_id).transition(
            Job.State.QUEUED,
            dispatched_at=None,
            dispatch_id=None,
            progress_step=0,
            heartbeat_at=None,
        )
        logger.warning("Requeued job %s (was %s on %s)", job.id, state, job.worker or "?")
    return count
