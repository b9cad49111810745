from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast
from uuid import UUID

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from access.models import Program, User
from access.roles import can_moderate
from review.models import Approval, Finding, Output, ShareLink


@dataclass(frozen=True)
class QueueFilters:
    model: str = ""
    cohort: str = ""
    tester: str = ""
    lane: str = ""
    min_age_hours: int | None = None


def review_queue(filters: QueueFilters | None = None) -> QuerySet[Output]:
    """Outputs awaiting review, oldest first, with all the page shows in one query."""
    filters = filters or QueueFilters()
    approvals = (
        Approval.objects.filter(output=OuterRef("pk"))
        .values("output")
        .annotate(n=Count("id"))
        .values("n")
    )
    outputs = (
        Output.objects.filter(state=Output.State.PENDING)
        .select_related("job", "job__owner", "job__owner__cohort", "claimed_by")
        # A correlated subquery, not Count(): runs for the page's rows only; count() drops it.
        .annotate(approval_count=Coalesce(Subquery(approvals), 0))
        .order_by("created_at")
    )
    if filters.model:
        outputs = outputs.filter(job__model_name=filters.model)
    if filters.cohort:
        outputs = outputs.filter(job__owner__cohort__name=filters.cohort)
    if filters.tester:
        outputs = outputs.filter(job__owner__email__icontains=filters.tester)
    if filters.lane:
        outputs = outputs.filter(job__owner__cohort__lane=filters.lane)
    if filters.min_age_hours is not None:
        cutoff = timezone.now() - timedelta(hours=filters.min_age_hours)
        outputs = outputs.filter(created_at__lte=cutoff)
    return outputs


def sla_cutoff():
    return timezone.now() - timedelta(hours=settings.REVIEW_SLA_HOURS)


@dataclass(frozen=True)
class DayStats:
    day: date
    decided: int
    median_s: float
    p95_s: float


def review_stats(*, days: int = 14) -> list[DayStats]:
    """Median and p95 time from output to decision, per day of decision (newest first)."""
    since = timezone.now() - timedelta(days=days)
    rows = Output.objects.filter(decided_at__gte=since).values_list("created_at", "decided_at")
    by_day: dict[date, list[float]] = {}
    for created, decided in rows:
        decided = cast(datetime, decided)  # decided_at__gte leaves out the undecided (NULL) rows
        by_day.setdefault(decided.date(), []).append((decided - created).total_seconds())
    return [
        DayStats(
            day=day,
            decided=len(waits),
            median_s=statistics.median(waits),
            p95_s=_percentile(sorted(waits), 0.95),
        )
        for day, waits in sorted(by_day.items(), reverse=True)
    ]


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _active(user: User) -> bool:
    return bool(user.is_authenticated) and user.may_act()


def output_visible_to(*, output_id: UUID | str, user: User) -> Output | None:
    """The output if `user` owns it, moderates, or sees it in the gallery; else None (404).

    "In the gallery" is exactly `gallery()`: once its owner may no longer act (contained,
    expired), other testers cannot open it by id either.
    """
    if not _active(user):
        return None
    outputs = Output.objects.select_related("job", "job__owner", "job__owner__cohort").filter(
        id=output_id
    )
    if not can_moderate(user):
        outputs = outputs.filter(Q(job__owner=user) | Q(id__in=gallery().values("id")))
    return outputs.first()


def outputs_of(*, owner: User, state: str = "", model: str = "") -> QuerySet[Output]:
    """`owner`'s outputs, newest first, optionally of one review state or model, with their
    approval counts (`approval_count`), all in one query per page."""
    outputs = (
        Output.objects.filter(job__owner=owner)
        .select_related("job", "job__owner")
        .annotate(approval_count=Count("approvals"))
    )
    if state:
        outputs = outputs.filter(state=state)
    if model:
        outputs = outputs.filter(job__model_name=model)
    return outputs.order_by("-created_at")


def gallery() -> QuerySet[Output]:
    """Approved outputs their owners opted in, whose owners may act now.

    The same rule as `User.may_act`, written as a query (standing, account, program pause, cohort
    suspension and the cohort's program window), so an entry disappears exactly when its owner's
    share links stop resolving.
    """
    now = timezone.now()
    outputs = Output.objects.filter(
        state=Output.State.APPROVED,
        in_gallery=True,
        job__owner__standing=User.Standing.ACTIVE,
        job__owner__is_active=True,
    )
    staff = Q(job__owner__is_staff=True)
    in_open_cohort = Q(
        job__owner__cohort__suspended_at__isnull=True,
        job__owner__cohort__starts_at__lte=now,
        job__owner__cohort__ends_at__gt=now,
    )
    no_cohort = Q(job__owner__cohort__isnull=True)
    outputs = outputs.filter(staff | in_open_cohort | no_cohort)
    if Program.is_paused():
        outputs = outputs.filter(staff)
    return outputs.select_related("job", "job__owner").order_by("-decided_at")


def share_link_resolve(*, token: str) -> ShareLink | None:
    """An active link to an approved output whose owner is in good standing, or None.

    The owner's standing is derived (program paused, cohort suspended, window ended), so a pause
    takes every tester's links down and resuming restores exactly those that were valid before.
    """
    if not token or len(token) > 64:
        return None
    now = timezone.now()
    link = (
        ShareLink.objects.select_related(
            "output", "output__job", "output__job__owner", "output__job__owner__cohort"
        )
        .filter(token=token, revoked_at__isnull=True, output__state=Output.State.APPROVED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if link is None or not _active(link.output.job.owner):
        return None
    return link


def share_links_of(*, output: Output) -> QuerySet[ShareLink]:
    return output.share_links.all()


def share_links_of_user(user: User) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(created_by=user).select_related("output", "output__job")


def findings_visible_to(user: User) -> QuerySet[Finding]:
    findings = Finding.objects.select_related("output", "output__job", "reporter", "handled_by")
    return findings if can_moderate(user) else findings.filter(reporter=user)
