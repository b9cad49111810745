from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast
from uuid import UUID

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from access.models import Program, User
from access.roles import can_moderate
from review.models import Approval, Finding, Output, ShareLink, TesterNote

# The queue's tabs, in order: a state, or "all" (every decision state, deleted ones aside).
QUEUE_TABS: dict[str, str] = {
    "pending": "Pending",
    "approved": "Approved",
    "rejected": "Rejected",
    "needs_changes": "Needs changes",
    "all": "All",
}
TAB_STATES = [state for state in QUEUE_TABS if state != "all"]


@dataclass(frozen=True)
class QueueFilters:
    model: str = ""
    cohort: str = ""
    tester: str = ""
    lane: str = ""
    min_age_hours: int | None = None
    state: str = "pending"

    @property
    def narrowed(self) -> bool:
        """True when anything but the tab narrows the list (the page offers to clear it)."""
        return bool(
            self.model or self.cohort or self.tester or self.lane or self.min_age_hours is not None
        )


def _filtered(outputs: QuerySet[Output], filters: QueueFilters) -> QuerySet[Output]:
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


def review_queue_counts(filters: QueueFilters | None = None) -> dict[str, int]:
    """How many outputs each tab holds under the same filters, in one query."""
    filters = filters or QueueFilters()
    outputs = _filtered(Output.objects.filter(state__in=TAB_STATES), filters)
    counts = outputs.aggregate(
        **{state: Count("id", filter=Q(state=state)) for state in TAB_STATES}
    )
    counts["all"] = sum(counts.values())
    return counts


def review_queue(filters: QueueFilters | None = None) -> QuerySet[Output]:
    """The outputs of one tab (awaiting review by default, oldest first; decided ones newest
    decision first), with all the page shows in one query."""
    filters = filters or QueueFilters()
    approvals = (
        Approval.objects.filter(output=OuterRef("pk"))
        .values("output")
        .annotate(n=Count("id"))
        .values("n")
    )
    states = TAB_STATES if filters.state == "all" else [filters.state or Output.State.PENDING]
    outputs = (
        Output.objects.filter(state__in=states)
        .select_related("job", "job__owner", "job__owner__cohort", "claimed_by", "decided_by")
        # A correlated subquery, not Count(): runs for the page's rows only; count() drops it.
        .annotate(approval_count=Coalesce(Subquery(approvals), 0))
    )
    if states == [Output.State.PENDING]:
        outputs = outputs.order_by("created_at")
    else:
        outputs = outputs.order_by(F("decided_at").desc(nulls_last=True), "created_at")
    return _filtered(outputs, filters)


@dataclass(frozen=True)
class TesterContext:
    """What a reviewer sees beside a tester's item: their record in the program so far."""

    counts: dict[str, int]
    last_decisions: list[Output]
    open_findings: int
    note: TesterNote | None


LAST_DECISIONS = 3


def tester_contexts(tester_ids: set[int]) -> dict[int, TesterContext]:
    """Each tester's review record (counts by state, last decisions, open findings on their
    outputs) and the reviewers' note on them: two queries for a whole page."""
    ids = list(tester_ids)

    def count(outputs: QuerySet) -> Coalesce:
        return Coalesce(Subquery(outputs.values("n")), 0)

    def of_tester(model: type[Output] | type[Finding], owner: str) -> QuerySet:
        return (
            model._default_manager.filter(**{owner: OuterRef("pk")})
            .values(owner)
            .annotate(n=Count("id"))
        )

    states = [Output.State.APPROVED, Output.State.REJECTED, Output.State.NEEDS_CHANGES]
    testers = User.objects.filter(id__in=ids).select_related(
        "tester_note", "tester_note__updated_by"
    )
    testers = testers.annotate(
        open_findings=count(
            of_tester(Finding, "output__job__owner").exclude(state=Finding.State.RESOLVED)
        ),
        **{
            f"n_{state}": count(of_tester(Output, "job__owner").filter(state=state))
            for state in states
        },
    )
    last: dict[int, list[Output]] = {tester: [] for tester in ids}
    recent = (
        Output.objects.filter(job__owner__in=ids, decided_at__isnull=False)
        .exclude(state=Output.State.DELETED)
        .annotate(
            owner_id=F("job__owner"),
            rank=Window(
                RowNumber(), partition_by=[F("job__owner")], order_by=F("decided_at").desc()
            ),
        )
        .filter(rank__lte=LAST_DECISIONS)
        .select_related("job")
        .order_by("-decided_at")
    )
    for output in recent:
        last[output.owner_id].append(output)
    return {
        tester.pk: TesterContext(
            counts={state: getattr(tester, f"n_{state}") for state in states},
            last_decisions=last[tester.pk],
            open_findings=tester.open_findings,
            note=getattr(tester, "tester_note", None),
        )
        for tester in testers
    }


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


def share_link_unavailable_reason(*, token: str) -> str:
    """Why a link does not resolve, as a code the page words for an anonymous visitor:
    "revoked", "expired", "withdrawn" (the video is no longer approved), "paused" (the program
    is paused), "cohort" (the artist's group is suspended), "artist_on_hold" (the artist is
    suspended), "artist_ended" (their access was revoked or ended), or "unknown" (no such link,
    and nothing disclosed)."""
    link = (
        ShareLink.objects.select_related("output", "output__job__owner__cohort")
        .filter(token=token)
        .first()
        if token and len(token) <= 64
        else None
    )
    if link is None:
        return "unknown"
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= timezone.now():
        return "expired"
    if link.output.state != Output.State.APPROVED:
        return "withdrawn"
    owner = link.output.job.owner
    standing = owner.standing_now
    if standing == User.Standing.PAUSED or (Program.is_paused() and not owner.is_staff):
        return "paused"
    if standing == User.Standing.SUSPENDED:
        return "cohort" if owner.standing == User.Standing.ACTIVE else "artist_on_hold"
    return "artist_ended"


def share_links_of(*, output: Output) -> QuerySet[ShareLink]:
    return output.share_links.all()


def share_links_of_user(user: User) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(created_by=user).select_related("output", "output__job")


def findings_visible_to(user: User) -> QuerySet[Finding]:
    findings = Finding.objects.select_related("output", "output__job", "reporter", "handled_by")
    return findings if can_moderate(user) else findings.filter(reporter=user)
