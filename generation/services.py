"""Every state change of a job. Web page, API and worker all come through here.

Worker-side transitions are conditional UPDATEs keyed on (id, state, attempt), so two deliveries of
the same message, a cancelled job or a stale worker can never move a job twice.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from access.models import User
from generation.models import Job
from generation.pipeline.constraints import check_shape
from generation.progress import publish_job
from generation.registry import ModelSpec, get_model

logger = logging.getLogger(__name__)

PROMPT_MAX_CHARS = 2000
SEED_MAX = 2**32 - 1
ALLOWED_CONTROL_CHARS = {"\n", "\r", "\t"}


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


def _bounded(request: JobRequest, spec: ModelSpec, field: str, errors: dict) -> float:
    value = getattr(request, field)
    value = getattr(spec.defaults, field) if value is None else value
    limit = getattr(spec.limits, field)
    minimum = 0 if field == "guidance" else 1
    if not minimum <= value <= limit:
        errors.setdefault(field, []).append(
            f"Must be between {minimum} and {limit} for {spec.name}."
        )
    return value


def job_validate(request: JobRequest) -> tuple[ModelSpec, dict]:
    """Check a request against the model's limits; returns the spec and the resolved parameters."""
    errors: dict[str, list[str]] = {}
    spec = get_model(request.model_name)
    if spec is None or not spec.enabled:
        raise JobRejected({"model": [f"Unknown or disabled model {request.model_name!r}."]})
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
        params[field] = _bounded(request, spec, field, errors)
    for field, message in check_shape(
        params["num_frames"], params["width"], params["height"]
    ).items():
        errors.setdefault(field, []).append(message)
    if errors:
        raise JobRejected(errors)
    return spec, params


def job_submit(*, owner: User, request: JobRequest, client_token: str = "") -> tuple[Job, bool]:
    """Create a queued job and dispatch it after commit. Returns (job, created).

    A repeated `client_token` (double click, retried API call) returns the first job unchanged.
    """
    if not owner.is_active:
        raise JobRejected({"__all__": ["This account cannot submit jobs."]})
    if len(client_token) > 64:
        raise JobRejected({"client_token": ["At most 64 characters."]})
    if client_token and (existing := _job_by_token(owner, client_token)):
        return existing, False
    spec, params = job_validate(request)
    try:
        with transaction.atomic():
            job = Job.objects.create(
                owner=owner, model_name=spec.name, client_token=client_token, **params
            )
            transaction.on_commit(lambda: job_dispatch(job=job, spec=spec))
    except IntegrityError:
        # A concurrent submission with the same token won the race.
        return _job_by_token(owner, client_token), False
    return job, True


def _job_by_token(owner: User, client_token: str) -> Job | None:
    return Job.objects.filter(owner=owner, client_token=client_token).first()


def job_dispatch(*, job: Job, spec: ModelSpec) -> None:
    from generation.tasks import run_job

    try:
        run_job.apply_async(args=[str(job.id)], queue=spec.queue)
    except Exception:
        # The row stays queued: re-dispatching from the database recovers it.
        logger.exception("Could not send job %s to queue %s", job.id, spec.queue)
    publish_job(job)


def job_start(*, job_id: UUID, worker: str) -> Job | None:
    """Claim a job for one run. Returns None when it is no longer runnable.

    A RUNNING job is claimed again only by a redelivered message (its worker died); each claim
    increments `attempt`, which fences off the previous run.
    """
    runnable = Q(state=Job.State.QUEUED) | Q(state=Job.State.RUNNING)
    claimed = Job.objects.filter(runnable, id=job_id, attempt__lt=settings.JOB_MAX_ATTEMPTS).update(
        state=Job.State.RUNNING,
        attempt=F("attempt") + 1,
        progress_step=0,
        worker=worker[:200],
        started_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not claimed:
        _fail_exhausted(job_id)
        return None
    job = Job.objects.get(id=job_id)
    publish_job(job)
    return job


def _fail_exhausted(job_id: UUID) -> None:
    exhausted = Job.objects.filter(
        id=job_id, state=Job.State.RUNNING, attempt__gte=settings.JOB_MAX_ATTEMPTS
    )
    reason = f"The worker stopped during this job {settings.JOB_MAX_ATTEMPTS} times; giving up."
    if exhausted.update(state=Job.State.FAILED, error=reason, finished_at=timezone.now()):
        publish_job(Job.objects.get(id=job_id))


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


def job_succeed(*, job: Job, output_fields: dict) -> bool:
    """Finish the current run and register its output for review, exactly once."""
    from review.services import output_register

    with transaction.atomic():
        finished = Job.objects.filter(_current_run(job)).update(
            state=Job.State.SUCCEEDED,
            progress_step=job.steps,
            error="",
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if not finished:
            return False
        output_register(job=job, **output_fields)
        transaction.on_commit(
            lambda: publish_job(Job.objects.select_related("output").get(id=job.id))
        )
    return True


def job_fail(*, job: Job, reason: str) -> bool:
    finished = Job.objects.filter(_current_run(job)).update(
        state=Job.State.FAILED,
        error=reason[:1000],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if finished:
        publish_job(Job.objects.get(id=job.id))
    return bool(finished)
