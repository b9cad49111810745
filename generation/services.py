"""Every state change of a job. Web page, API and worker all come through here.

Worker-side transitions are conditional UPDATEs keyed on (id, state, attempt), so two deliveries of
the same message, a cancelled job or a stale worker can never move a job twice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from access.models import User
from access.selectors import Limits, budget_for, limits_for, terms_accepted_version
from generation.models import Job
from generation.pipeline.constraints import check_shape
from generation.progress import publish_job
from generation.registry import ModelSpec, enabled_models, get_model
from generation.selectors import (
    dispatch_order,
    in_flight_jobs,
    lost_dispatches,
    overdue_waiting_jobs,
    queue_estimates,
    recent_service,
    stalled_running_jobs,
    waiting_heads,
    waiting_jobs,
)

logger = logging.getLogger(__name__)

PROMPT_MAX_CHARS = 2000
SEED_MAX = 2**32 - 1
ALLOWED_CONTROL_CHARS = {"\n", "\r", "\t"}
SUBMIT_PERMISSION = "generation.submit_job"


class JobRejected(Exception):
    """A submission that breaks a rule; `errors` maps each field to readable messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class JobRequest:
    """What a tester asks for; None means "the model's default"."""

    model_name: str
    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    num_frames: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None


def _clean_text(value: str, field: str, errors: dict, *, required: bool) -> str:
    text = unicodedata.normalize("NFC", value or "").strip()
    if required and not text:
        errors.setdefault(field, []).append("This field is required.")
    if len(text) > PROMPT_MAX_CHARS:
        errors.setdefault(field, []).append(
            f"At most {PROMPT_MAX_CHARS} characters (this one has {len(text)})."
        )
    bad = sorted({f"U+{ord(c):04X}" for c in text if _is_control(c)})
    if bad:
        errors.setdefault(field, []).append(
            f"Control characters are not allowed: {', '.join(bad)}."
        )
    return text


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf") and char not in ALLOWED_CONTROL_CHARS


def _bounded(request: JobRequest, spec: ModelSpec, limits: Limits, field: str, errors: dict):
    value = getattr(request, field)
    value = min(getattr(spec.defaults, field), getattr(limits, field)) if value is None else value
    limit = getattr(limits, field)
    minimum = 0 if field == "guidance" else 1
    if not minimum <= value <= limit:
        errors.setdefault(field, []).append(
            f"Must be between {minimum} and {limit} for {spec.name}."
        )
    return value


def job_validate(request: JobRequest, spec: ModelSpec, limits: Limits) -> dict:
    """Check a request against the tester's limits for the model; returns resolved parameters."""
    errors: dict[str, list[str]] = {}
    params = {
        "prompt": _clean_text(request.prompt, "prompt", errors, required=True),
        "negative_prompt": _clean_text(
            request.negative_prompt, "negative_prompt", errors, required=False
        ),
        "seed": secrets.randbelow(SEED_MAX) if request.seed is None else request.seed,
    }
    if not 0 <= params["seed"] <= SEED_MAX:
        errors.setdefault("seed", []).append(f"Must be between 0 and {SEED_MAX}.")
    for field in ("num_frames", "width", "height", "steps", "guidance"):
        params[field] = _bounded(request, spec, limits, field, errors)
    shape = check_shape(params["num_frames"], params["width"], params["height"])
    for field, message in shape.items():
        errors.setdefault(field, []).append(message)
    if errors:
        raise JobRejected(errors)
    return params


def _submitter_standing(owner: User) -> int | None:
    """Refuse anyone who may not submit now; return the terms version they accepted."""
    if not owner.is_active or owner.standing_now != User.Standing.ACTIVE:
        raise JobRejected({"__all__": ["This account cannot submit jobs."]})
    if not owner.has_perm(SUBMIT_PERMISSION):
        raise JobRejected({"__all__": ["This account is not a tester."]})
    version = terms_accepted_version(owner)
    if version is None and not owner.is_staff:
        raise JobRejected({"__all__": ["Accept the current program terms first."]})
    return version or None


def _model_and_limits(owner: User, model_name: str) -> tuple[ModelSpec, Limits]:
    spec = get_model(model_name)
    if spec is None or not spec.enabled:
        raise JobRejected({"model": [f"Unknown or disabled model {model_name!r}."]})
    limits = limits_for(owner, spec)
    if limits is None:
        raise JobRejected({"model": [f"Your cohort cannot use the model {model_name!r}."]})
    return spec, limits


def _check_budget(owner: User) -> None:
    """Runs with the owner's row locked, so concurrent submissions see each other's jobs."""
    budget = budget_for(owner)
    if budget.slots_left == 0:
        raise JobRejected(
            {
                "__all__": [
                    f"You have {budget.waiting} jobs waiting or running; your cohort allows "
                    f"{budget.waiting_limit}. Wait for one to finish."
                ]
            }
        )
    if budget.gpu_seconds_left is not None and budget.gpu_seconds_left <= 0:
        raise JobRejected(
            {
                "__all__": [
                    f"You have used your {budget.gpu_seconds_per_day} GPU-seconds for today; "
                    "the budget renews at 00:00 UTC."
                ]
            }
        )


def job_submit(*, owner: User, request: JobRequest, client_token: str = "") -> tuple[Job, bool]:
    """Create a queued job and dispatch it after commit. Returns (job, created).

    A repeated `client_token` (double click, retried API call) returns the first job unchanged.
    Quotas are checked with the owner's row locked: parallel submissions queue up behind it.
    """
    terms_version = _submitter_standing(owner)
    if len(client_token) > 64:
        raise JobRejected({"client_token": ["At most 64 characters."]})
    if client_token and (existing := _job_by_token(owner, client_token)):
        return existing, False
    spec, limits = _model_and_limits(owner, request.model_name)
    params = job_validate(request, spec, limits)
    try:
        with transaction.atomic():
            _check_budget(User.objects.select_for_update().get(pk=owner.pk))
            job = Job.objects.create(
                owner=owner,
                model_name=spec.name,
                client_token=client_token,
                terms_version=terms_version,
                wait_deadline=_wait_deadline(),
                **params,
            )
            # Announce "queued" before dispatching, so no worker's "running" can overtake it.
            transaction.on_commit(lambda: (publish_job(job), jobs_dispatch(model_name=spec.name)))
    except IntegrityError:
        # A concurrent submission with the same token won the race.
        return _job_by_token(owner, client_token), False
    return job, True


def _job_by_token(owner: User, client_token: str) -> Job | None:
    return Job.objects.filter(owner=owner, client_token=client_token).first()


def _wait_deadline():
    ttl = settings.JOB_QUEUE_TTL_MINUTES
    return timezone.now() + timedelta(minutes=ttl) if ttl else None


# --- dispatch ----------------------------------------------------------------------------------


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
        transaction.on_commit(lambda: [_send(job, spec.queue) for job in chosen])
    if chosen:
        transaction.on_commit(lambda: publish_queue_positions(model_name=model_name))
    return chosen


def jobs_dispatch_all() -> int:
    return sum(len(jobs_dispatch(model_name=spec.name)) for spec in enabled_models())


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
    chosen = []
    for job in dispatch_order(waiting, recent_service(owners, settings.FAIR_SHARE_WINDOW)):
        if len(chosen) == free:
            break
        if busy[job.owner_id] < _owner_cap(job.owner):
            busy[job.owner_id] += 1
            chosen.append(job)
    return chosen


def _send(job: Job, queue: str) -> None:
    from generation.tasks import run_job

    try:
        run_job.apply_async(args=[str(job.id), str(job.dispatch_id)], queue=queue)
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
    for job in Job.objects.filter(id__in=ids, state=Job.State.QUEUED).select_related("output"):
        publish_job(job, estimate=estimates[str(job.id)])


def job_start(*, job_id: UUID, dispatch_id: UUID, worker: str) -> Job | None:
    """Claim a job for one run. Returns None when this message should not run it.

    Only a message carrying the job's current `dispatch_id` may run it. A RUNNING job is claimed
    again only by such a message being redelivered (its worker died); each claim increments
    `attempt`, which fences off the previous run.
    """
    runnable = Q(state=Job.State.QUEUED) | Q(state=Job.State.RUNNING)
    claimed = Job.objects.filter(
        runnable, id=job_id, dispatch_id=dispatch_id, attempt__lt=settings.JOB_MAX_ATTEMPTS
    ).update(
        state=Job.State.RUNNING,
        attempt=F("attempt") + 1,
        progress_step=0,
        worker=worker[:200],
        started_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not claimed:
        _fail_exhausted(job_id, dispatch_id)
        return None
    job = Job.objects.select_related("owner", "owner__cohort").get(id=job_id)
    if job.owner.standing_now != User.Standing.ACTIVE or not job.owner.is_active:
        _finish(job, state=Job.State.CANCELLED, error="The owner's access has ended.")
        return None
    publish_job(job)
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
    if exhausted.update(state=Job.State.FAILED, error=reason, finished_at=timezone.now()):
        _after_final(Job.objects.get(id=job_id))


def _after_final(job: Job) -> None:
    """A finished job frees a slot: tell its watchers, then hand the slot to the next job."""
    publish_job(job)
    jobs_dispatch(model_name=job.model_name)


def _current_run(job: Job) -> Q:
    return Q(id=job.id, attempt=job.attempt, state=Job.State.RUNNING)


def job_record_progress(*, job: Job, step: int) -> bool:
    """Record a finished denoising step. False means stop: the job was cancelled or superseded."""
    updated = Job.objects.filter(_current_run(job)).update(
        progress_step=step, updated_at=timezone.now()
    )
    if updated:
        job.progress_step = step
        publish_job(job, force=step == job.steps)
    return bool(updated)


def job_succeed(*, job: Job, output_fields: dict, gpu_seconds: float) -> bool:
    """Finish the current run and register its output for review, exactly once.

    `gpu_seconds` (the measured render time) is charged to the owner's daily budget; failed and
    cancelled runs are not charged.
    """
    from review.services import output_register

    with transaction.atomic():
        if not _finish(job, state=Job.State.SUCCEEDED, gpu_seconds=gpu_seconds, publish=False):
            return False
        output_register(job=job, **output_fields)
        transaction.on_commit(
            lambda: _after_final(Job.objects.select_related("output").get(id=job.id))
        )
    return True


def job_retry(*, job: Job, reason: str) -> bool:
    """Put the current run back in the queue after a transient error; fail it when its attempts
    are used up. Nothing is charged for the failed run. Returns True if it will run again."""
    if job.attempt >= settings.JOB_MAX_ATTEMPTS:
        job_fail(job=job, reason=f"{reason} (gave up after {job.attempt} attempts)")
        return False
    requeued = Job.objects.filter(_current_run(job)).update(
        state=Job.State.QUEUED,
        dispatched_at=None,
        dispatch_id=None,
        progress_step=0,
        error=reason[:1000],
        updated_at=timezone.now(),
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
    changes = {
        "state": state,
        "error": error,
        "gpu_seconds": gpu_seconds,
        "finished_at": timezone.now(),
        "updated_at": timezone.now(),
    }
    if state == Job.State.SUCCEEDED:
        changes["progress_step"] = job.steps
    finished = Job.objects.filter(_current_run(job)).update(**changes)
    if finished and publish:
        transaction.on_commit(lambda: _after_final(Job.objects.get(id=job.id)))
    return bool(finished)


# --- cancel and reconcile ----------------------------------------------------------------------


def job_cancel(*, job: Job, by: User, reason: str = "") -> Job:
    """Cancel a waiting job (it never starts) or a running one (it stops at the next step)."""
    from access.services import audit_record
    from review.services import can_moderate

    staff = by.id != job.owner_id
    if staff and not can_moderate(by):
        raise PermissionDenied("Only the job's owner or staff can cancel it.")
    reason = reason.strip()[:500] or ("Cancelled by staff." if staff else "Cancelled by you.")
    with transaction.atomic():
        cancelled = Job.objects.filter(
            id=job.id, state__in=[Job.State.QUEUED, Job.State.RUNNING]
        ).update(
            state=Job.State.CANCELLED,
            error=reason,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if not cancelled:
            job.refresh_from_db()
            raise JobRejected({"__all__": [f"This job already ended ({job.state})."]})
        if staff:
            audit_record(
                action="generation.job.cancelled", actor=by, target=job, details={"reason": reason}
            )
        transaction.on_commit(lambda: _after_final(Job.objects.get(id=job.id)))
    job.refresh_from_db()
    return job


@dataclass(frozen=True)
class ReconcileReport:
    requeued_stalled: int
    redispatched_lost: int
    expired: int
    dispatched: int


def jobs_reconcile() -> ReconcileReport:
    """The dispatcher's periodic tick: recover what messages and workers lost, then dispatch.

    - RUNNING with no progress for JOB_STALL_SECONDS: its worker is gone; wait for a new dispatch
      (a late message of the dead run carries the old dispatch_id and is ignored).
    - QUEUED, dispatched longer ago than JOB_DISPATCH_TIMEOUT_SECONDS without starting: the
      message is presumed lost; dispatch again.
    - QUEUED past its queue deadline: cancelled with a reason.
    """
    stalled = _requeue(
        stalled_running_jobs(timedelta(seconds=settings.JOB_STALL_SECONDS)), Job.State.RUNNING
    )
    lost = _requeue(
        lost_dispatches(timedelta(seconds=settings.JOB_DISPATCH_TIMEOUT_SECONDS)), Job.State.QUEUED
    )
    expired = 0
    for job in overdue_waiting_jobs():
        expired += Job.objects.filter(id=job.id, state=Job.State.QUEUED).update(
            state=Job.State.CANCELLED,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            error="Waited longer than the queue allows; cancelled. Submit it again if you like.",
        )
        publish_job(Job.objects.get(id=job.id))
    return ReconcileReport(stalled, lost, expired, jobs_dispatch_all())


def _requeue(jobs, state: str) -> int:
    count = 0
    for job in jobs:
        if job.state == Job.State.RUNNING and job.attempt >= settings.JOB_MAX_ATTEMPTS:
            _fail_exhausted(job.id, job.dispatch_id)
            continue
        count += Job.objects.filter(id=job.id, state=state, dispatch_id=job.dispatch_id).update(
            state=Job.State.QUEUED,
            dispatched_at=None,
            dispatch_id=None,
            progress_step=0,
            updated_at=timezone.now(),
        )
        logger.warning("Requeued job %s (was %s on %s)", job.id, state, job.worker or "?")
    return count
