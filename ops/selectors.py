"""What operators read, computed from the database when asked: metrics at scrape time and usage.

Computing from the rows (not from counters kept in one process) means every web process gives the
same answer, and nothing is lost when a process restarts: the database is the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Avg,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from access import audit as access_audit
from access.models import ApiToken, AuditEntry
from generation.models import Job
from provenance.models import Trace
from review import audit as review_audit
from review.models import Output

NO_COHORT = "(none)"  # staff submit without a cohort

CONTAINMENT_ACTIONS = (
    access_audit.TESTER_SUSPENDED,
    access_audit.TESTER_REVOKED,
    access_audit.TESTER_REINSTATED,
    access_audit.COHORT_SUSPENDED,
    access_audit.COHORT_REINSTATED,
    access_audit.PROGRAM_PAUSED,
    access_audit.PROGRAM_RESUMED,
)
DECISION_ACTIONS = {
    review_audit.APPROVAL_RECORDED: "approve",
    review_audit.OUTPUT_APPROVED: "approve",
    review_audit.OUTPUT_REJECTED: "reject",
    review_audit.OUTPUT_CHANGES_REQUESTED: "needs_changes",
}
DECIDED_STATES = (Output.State.APPROVED, Output.State.REJECTED, Output.State.NEEDS_CHANGES)


# --- metrics -------------------------------------------------------------------------------------


def jobs_by_model_and_state() -> list[tuple[str, str, int]]:
    rows = Job.objects.order_by().values_list("model_name", "state").annotate(n=Count("id"))
    return [(model, state, n) for model, state, n in rows]


def queue_by_model() -> list[tuple[str, int, datetime]]:
    """(model, waiting jobs, when the oldest was submitted) for models with a queue."""
    rows = (
        Job.objects.filter(state=Job.State.QUEUED)
        .order_by()
        .values_list("model_name")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    return [(model, n, oldest) for model, n, oldest in rows]


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts per upper bound (seconds), the count and the sum (seconds)."""

    buckets: list[tuple[float, int]]
    count: int
    total: float


def _duration_histograms(
    jobs: QuerySet[Job], start: str, end: str, bounds: Sequence[float]
) -> dict[str, Histogram]:
    """One histogram per model of `end - start`, counted by the database in one query."""
    spans = jobs.filter(**{f"{start}__isnull": False, f"{end}__isnull": False}).annotate(
        span=ExpressionWrapper(F(end) - F(start), output_field=DurationField())
    )
    per_bound = {
        f"le_{i}": Count("id", filter=Q(span__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(bounds)
    }
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in spans.order_by()
        .values("model_name")
        .annotate(n=Count("id"), total=Sum("span"), **per_bound)
    ]
    return {
        row["model_name"]: Histogram(
            buckets=[(bound, row[f"le_{i}"]) for i, bound in enumerate(bounds)],
            count=row["n"],
            total=row["total"].total_seconds() if row["total"] else 0.0,
        )
        for row in rows
    }


def job_duration_histograms(bounds: Sequence[float]) -> dict[str, Histogram]:
    """Running to succeeded (the last attempt), per model."""
    succeeded = Job.objects.filter(state=Job.State.SUCCEEDED)
    return _duration_histograms(succeeded, "started_at", "finished_at", bounds)


def time_to_start_histograms(bounds: Sequence[float]) -> dict[str, Histogram]:
    """Submitted to (last) started, per model, for every job that started."""
    return _duration_histograms(Job.objects.all(), "created_at", "started_at", bounds)


def gpu_seconds_by_cohort() -> list[tuple[str, float]]:
    rows = (
        Job.objects.filter(state=Job.State.SUCCEEDED)
        .order_by()
        .values_list("owner__cohort__name")
        .annotate(total=Sum("gpu_seconds"))
    )
    return [(cohort or NO_COHORT, float(total or 0.0)) for cohort, total in rows]


def running_heartbeats() -> list[tuple[str, datetime]]:
    """(worker, latest heartbeat of its running jobs): a worker whose beat ages has stalled."""
    rows = (
        Job.objects.filter(state=Job.State.RUNNING, heartbeat_at__isnull=False)
        .order_by()
        .values_list("worker")
        .annotate(latest=Max("heartbeat_at"))
    )
    return [(worker or "unknown", latest) for worker, latest in rows]


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest: datetime | None
    over_sla: int


def review_backlog(now: datetime) -> Backlog:
    sla_start = now - timedelta(hours=settings.REVIEW_SLA_HOURS)
    found = Output.objects.filter(state=Output.State.PENDING).aggregate(
        pending=Count("id"),
        oldest=Min("created_at"),
        over_sla=Count("id", filter=Q(created_at__lt=sla_start)),
    )
    return Backlog(found["pending"], found["oldest"], found["over_sla"])


def decisions_by_reviewer() -> list[tuple[str, str, int]]:
    rows = (
        AuditEntry.objects.filter(action__in=DECISION_ACTIONS)
        .order_by()
        .values_list("actor_label", "action")
        .annotate(n=Count("id"))
    )
    totals: dict[tuple[str, str], int] = {}
    for reviewer, action, n in rows:
        key = (reviewer or "unknown", DECISION_ACTIONS[action])
        totals[key] = totals.get(key, 0) + n
    return [(reviewer, decision, n) for (reviewer, decision), n in sorted(totals.items())]


def containment_actions() -> list[tuple[str, int]]:
    rows = (
        AuditEntry.objects.filter(action__in=CONTAINMENT_ACTIONS)
        .order_by()
        .values_list("action")
        .annotate(n=Count("id"))
    )
    return list(rows)


def suspended_tokens() -> int:
    return ApiToken.objects.filter(suspended_at__isnull=False, revoked_at__isnull=True).count()


def trace_runs() -> list[tuple[str, str, int]]:
    """Leak traces by state and by whether they named an output: (state, named, count)."""
    rows = (
        Trace.objects.order_by()
        .annotate(named=Case(When(output__isnull=False, then=Value("yes")), default=Value("no")))
        .values_list("state", "named")
        .annotate(n=Count("id"))
    )
    return list(rows)


# --- usage ---------------------------------------------------------------------------------------

USAGE_COLUMNS = (
    "jobs",
    "succeeded",
    "gpu_seconds",
    "decided",
    "approved",
    "approval_rate",
    "review_latency_seconds",
)


@dataclass(frozen=True)
class UsageRow:
    """One tester's (or cohort's) use of the platform in a window."""

    key: str  # the tester's email or the cohort's name
    cohort: str
    jobs: int
    succeeded: int
    gpu_seconds: float
    decided: int
    approved: int
    review_latency_seconds: float | None  # mean time from output to decision

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decided if self.decided else None

    def values(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in USAGE_COLUMNS}


def _usage(group_by: str, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """Jobs submitted in the window and outputs decided in it, per `group_by` value."""
    jobs = (
        Job.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values(group_by)
        .annotate(
            jobs=Count("id"),
            succeeded=Count("id", filter=Q(state=Job.State.SUCCEEDED)),
            gpu_seconds=Sum("gpu_seconds", filter=Q(state=Job.State.SUCCEEDED)),
        )
    )
    decided = (
        Output.objects.filter(state__in=DECIDED_STATES, decided_at__gte=start, decided_at__lt=end)
        .order_by()
        .values(f"job__{group_by}")
        .annotate(
            decided=Count("id"),
            approved=Count("id", filter=Q(state=Output.State.APPROVED)),
            latency=Avg(
                ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())
            ),
        )
    )
    table: dict[str, dict[str, Any]] = {}
    for row in jobs:
        table.setdefault(row[group_by] or NO_COHORT, {}).update(row)
    for row in decided:
        table.setdefault(row[f"job__{group_by}"] or NO_COHORT, {}).update(row)
    return table


def _rows(table: dict[str, dict[str, Any]], cohort_of: dict[str, str]) -> list[UsageRow]:
    rows = []
    for key, found in table.items():
        latency = found.get("latency")
        rows.append(
            UsageRow(
                key=key,
                cohort=cohort_of.get(key, key),
                jobs=found.get("jobs", 0),
                succeeded=found.get("succeeded", 0),
                gpu_seconds=round(float(found.get("gpu_seconds") or 0.0), 1),
                decided=found.get("decided", 0),
                approved=found.get("approved", 0),
                review_latency_seconds=round(latency.total_seconds(), 1) if latency else None,
            )
        )
    return sorted(rows, key=lambda row: (-row.gpu_seconds, -row.jobs, row.key))


def usage_by_tester(*, start: datetime, end: datetime) -> list[UsageRow]:
    table = _usage("owner__email", start, end)
    cohorts = dict(
        Job.objects.filter(owner__email__in=table)
        .order_by()
        .values_list("owner__email", "owner__cohort__name")
        .distinct()
    )
    return _rows(table, {email: name or NO_COHORT for email, name in cohorts.items()})


def usage_by_cohort(*, start: datetime, end: datetime) -> list[UsageRow]:
    return _rows(_usage("owner__cohort__name", start, end), {})


def usage_window(days: int) -> tuple[datetime, datetime]:
    end = timezone.now()
    return end - timedelta(days=days), end
