"""Quotas: what one tester may ask of one model (`Limits`) and what is left today (`Budget`).

They live next to the jobs they count. `job_submit` reads the budget with the owner's row locked,
so parallel submissions never exceed a cohort's limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from access.models import User
from access.prepared import PreparedQuery
from generation.models import Job
from generation.registry import ModelSpec


@dataclass(frozen=True)
class Limits:
    """What one tester may do with one model: the model's limits narrowed by the cohort's."""

    num_frames: int
    width: int
    height: int
    steps: int
    guidance: float
    max_concurrent_jobs: int | None  # None: no per-tester limit (staff)
    max_queued_jobs: int | None
    gpu_seconds_per_day: int | None


def _narrow(model_limit: int, cohort_limit: int | None) -> int:
    return model_limit if cohort_limit is None else min(model_limit, cohort_limit)


def limits_for(user: User, spec: ModelSpec) -> Limits | None:
    """None when `user` may not use `spec` at all (not in a cohort that lists it)."""
    cohort = user.cohort
    if cohort is None:
        if not user.is_staff:
            return None
        return Limits(
            num_frames=spec.limits.num_frames,
            width=spec.limits.width,
            height=spec.limits.height,
            steps=spec.limits.steps,
            guidance=spec.limits.guidance,
            max_concurrent_jobs=None,
            max_queued_jobs=None,
            gpu_seconds_per_day=None,
        )
    if spec.name not in cohort.model_names:
        return None
    return Limits(
        num_frames=_narrow(spec.limits.num_frames, cohort.max_frames),
        width=_narrow(spec.limits.width, cohort.max_width),
        height=_narrow(spec.limits.height, cohort.max_height),
        steps=_narrow(spec.limits.steps, cohort.max_steps),
        guidance=spec.limits.guidance,
        max_concurrent_jobs=cohort.max_concurrent_jobs,
        max_queued_jobs=cohort.max_queued_jobs,
        gpu_seconds_per_day=cohort.gpu_seconds_per_day,
    )


@dataclass(frozen=True)
class Budget:
    waiting: int  # queued + running jobs
    waiting_limit: int | None
    gpu_seconds_used_today: float
    gpu_seconds_per_day: int | None
    resets_at: datetime  # when today's GPU-seconds start again from zero (00:00 UTC)

    @property
    def gpu_seconds_left(self) -> float | None:
        if self.gpu_seconds_per_day is None:
            return None
        return max(0.0, self.gpu_seconds_per_day - self.gpu_seconds_used_today)

    @property
    def slots_left(self) -> int | None:
        return None if self.waiting_limit is None else max(0, self.waiting_limit - self.waiting)


# One query for both figures, compiled once: it runs inside every submission's lock on the
# owner's row. Grouped by owner, so a tester with no jobs at all gets no row.
_WAITING_AND_USED = PreparedQuery(
    lambda owner_id, day_start: (
        Job.objects.filter(owner_id=owner_id)
        .order_by()
        .values("owner_id")
        .annotate(
            waiting=Count("pk", filter=Q(state__in=[Job.State.QUEUED, Job.State.RUNNING])),
            used=Sum("gpu_seconds", filter=Q(finished_at__gte=day_start)),
        )
        .values_list("waiting", "used")
    ),
    owner_id=int,
    day_start=datetime,
)


def budget_for(user: User) -> Budget:
    cohort = user.cohort
    # timezone.now() is UTC (USE_TZ): the day's budget runs from 00:00 UTC to the next.
    day_start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    waiting, used = next(
        iter(_WAITING_AND_USED.rows(owner_id=user.pk, day_start=day_start)), (0, 0)
    )
    used = used or 0.0
    limit = None
    if cohort is not None:
        limit = cohort.max_queued_jobs + cohort.max_concurrent_jobs
    return Budget(
        waiting=waiting,
        waiting_limit=limit,
        gpu_seconds_used_today=float(used),
        gpu_seconds_per_day=cohort.gpu_seconds_per_day if cohort else None,
        resets_at=day_start + timedelta(days=1),
    )
