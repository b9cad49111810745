"""Submitting a job: validate against the model's and the cohort's limits, enforce the quota with
the owner's row locked, write the row, and wake the dispatcher after commit (a submission never
dispatches itself, so it never waits on other submitters)."""

from __future__ import annotations

import hashlib
import json
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.models import User
from access.prepared import PreparedQuery
from access.roles import can_submit
from access.selectors import terms_accepted_version
from config.logs import current_request_id
from generation.models import Job
from generation.pipeline.constraints import check_shape
from generation.progress import publish_submitted
from generation.quotas import Budget, Limits, budget_for, limits_for
from generation.registry import ModelSpec, get_model
from generation.services.dispatch import dispatcher_wake
from generation.services.errors import IdempotencyConflict, JobRejected, QuotaExceeded

Errors = dict[str, list[str]]

PROMPT_MAX_CHARS = 2000
SEED_MAX = 2**32 - 1
ALLOWED_CONTROL_CHARS = {"\n", "\r", "\t"}


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

    def fingerprint(self) -> str:
        """A hash of what was asked (not of the bytes it arrived in: key order and spacing of a
        JSON body, or a form's encoding, do not change it)."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _clean_text(value: str, field: str, errors: Errors, *, required: bool) -> str:
    # A browser counts a line break as one character against the page's maxlength but sends it
    # as CRLF: count (and keep) it as one here too.
    text = unicodedata.normalize("NFC", (value or "").replace("\r\n", "\n")).strip()
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


def _bounded(
    request: JobRequest, spec: ModelSpec, limits: Limits, field: str, errors: Errors
) -> Any:
    value = getattr(request, field)
    value = min(getattr(spec.defaults, field), getattr(limits, field)) if value is None else value
    limit = getattr(limits, field)
    minimum = 0 if field == "guidance" else 1
    if not minimum <= value <= limit:
        errors.setdefault(field, []).append(
            f"Must be between {minimum} and {limit} for {spec.name}."
        )
    return value


def job_validate(request: JobRequest, spec: ModelSpec, limits: Limits) -> dict[str, Any]:
    """Check a request against the tester's limits for the model; returns resolved parameters."""
    errors: Errors = {}
    params: dict[str, Any] = {
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
    if not owner.may_act():
        raise JobRejected({"__all__": ["This account cannot submit jobs."]})
    if not can_submit(owner):
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


def _check_budget(owner: User) -> Budget:
    """Runs with the owner's row locked, so concurrent submissions see each other's jobs. Returns
    the budget read (before the new job)."""
    budget = budget_for(owner)
    if budget.slots_left == 0:
        raise QuotaExceeded(
            quota="waiting_jobs",
            message=f"You have {budget.waiting} jobs waiting or running; your cohort allows "
            f"{budget.waiting_limit}. Wait for one to finish.",
            resets_at=None,  # a slot frees when one of the caller's jobs finishes
        )
    if budget.gpu_seconds_left is not None and budget.gpu_seconds_left <= 0:
        raise QuotaExceeded(
            quota="gpu_seconds_per_day",
            message=f"You have used your {budget.gpu_seconds_per_day} GPU-seconds for today; "
            "the budget renews at 00:00 UTC.",
            resets_at=_next_utc_midnight(),
        )
    return budget


def _next_utc_midnight() -> datetime:
    """When the GPU-seconds budget renews (budget_for counts from today's 00:00 UTC)."""
    today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def job_submit(
    *, owner: User, request: JobRequest, client_token: str = "", parent: Job | None = None
) -> tuple[Job, bool]:
    """Create a queued job; the dispatcher hands it a GPU slot. Returns (job, created).
    `parent`: the job whose settings were reused (`job_rerun`), kept on the row.

    A repeated `client_token` (double click, retried API call) with the same request returns the
    first job unchanged; with a different request it raises IdempotencyConflict. Quotas are checked
    with the owner's row locked: parallel submissions queue up behind it.
    """
    terms_version = _submitter_standing(owner)
    if len(client_token) > 64:
        raise JobRejected({"client_token": ["At most 64 characters."]})
    request_hash = request.fingerprint()
    if client_token and (existing := _job_by_token(owner, client_token)):
        return _same_request(existing, request_hash), False
    spec, limits = _model_and_limits(owner, request.model_name)
    params = job_validate(request, spec, limits)
    try:
        with transaction.atomic():
            budget = _check_budget(_locked_with_cohort(owner))
            job = Job.objects.create(
                owner=owner,
                model_name=spec.name,
                client_token=client_token,
                request_hash=request_hash,
                request_id=current_request_id(),
                terms_version=terms_version,
                wait_deadline=_wait_deadline(),
                parent=parent,
                **params,
            )
            # Announce "queued" before waking the dispatcher, so no "running" can overtake it.
            # The budget line is the one read under the lock, with this job counted: no query.
            after = replace(budget, waiting=budget.waiting + 1)
            transaction.on_commit(lambda: _announce(job, after))
    except IntegrityError:
        # A concurrent submission with the same token won the race.
        winner = _job_by_token(owner, client_token)
        if winner is None:
            raise
        return _same_request(winner, request_hash), False
    return job, True


def _same_request(job: Job, request_hash: str) -> Job:
    """The job a repeated client_token names, if it was asked for with the same request."""
    if job.request_hash and job.request_hash != request_hash:
        raise IdempotencyConflict(job_id=str(job.id))
    return job


_OWNER_LOCKED_WITH_COHORT = PreparedQuery(
    lambda user_id: (
        User.objects.select_for_update(of=("self",))
        .select_related("cohort")
        .filter(pk=user_id)
        .order_by()
    ),
    user_id=int,
)


def _locked_with_cohort(owner: User) -> User:
    """The owner's row, locked, with its cohort's current limits in the same query (compiled
    once). Only the user row is locked (`of`): locking the cohort too would queue every tester
    of a cohort behind each other's submissions."""
    for locked in _OWNER_LOCKED_WITH_COHORT.objects(user_id=owner.pk):
        return locked
    raise User.DoesNotExist(f"No user {owner.pk}")  # as `.get()` raised it


# What "reuse settings" copies from the parent job (the model comes along as `model_name`).
RERUN_FIELDS = (
    "prompt",
    "negative_prompt",
    "seed",
    "num_frames",
    "width",
    "height",
    "steps",
    "guidance",
)


def job_rerun(
    *, parent: Job, by: User, overrides: Mapping[str, Any] | None = None, client_token: str = ""
) -> tuple[Job, bool]:
    """Submit a new job with `parent`'s settings, changed where `overrides` says ("reuse
    settings"; `seed=None` asks for a new random seed). Only the parent's owner may; every rule
    of `job_submit` (standing, terms, model, limits, quota, idempotency) applies unchanged."""
    if parent.owner_id != by.id:
        raise PermissionDenied("Only the job's owner can reuse its settings.")
    fields = {"model_name": parent.model_name, **{f: getattr(parent, f) for f in RERUN_FIELDS}}
    fields.update(overrides or {})
    return job_submit(
        owner=by, request=JobRequest(**fields), client_token=client_token, parent=parent
    )


def _announce(job: Job, budget: Budget) -> None:
    publish_submitted(job, budget=budget)
    dispatcher_wake()


def _job_by_token(owner: User, client_token: str) -> Job | None:
    return Job.objects.filter(owner=owner, client_token=client_token).first()


def _wait_deadline() -> datetime | None:
    ttl = settings.JOB_QUEUE_TTL_MINUTES
    return timezone.now() + timedelta(minutes=ttl) if ttl else None
