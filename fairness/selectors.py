"""What the artist's page, the staff pages and the export read."""

from __future__ import annotations

import difflib
import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from access.models import TermsAcceptance, TermsVersion, User
from access.roles import can_moderate
from fairness.models import Appeal, Purpose, ThreadMessage, TrainingPreference, UseRequest
from review.models import Feedback, Finding, Output
from review.selectors import findings_visible_to

MEDIAN_WINDOW = timedelta(days=7)
# Uses the public sees need an approved output as well as the artist's consent.
PUBLIC_PURPOSES = (Purpose.SHOWCASE, Purpose.MARKETING)


def training_opted_in(user_id: int) -> bool:
    """The artist's training default now: off unless they opted in."""
    return _opted_in(user_id).exists()


def training_opted_in_subquery(user_id: int) -> Exists:
    """`training_opted_in` as a subquery, for a row that records it in its own INSERT."""
    return Exists(_opted_in(user_id))


def _opted_in(user_id: int) -> QuerySet[TrainingPreference]:
    return TrainingPreference.objects.filter(user_id=user_id, opted_in=True)


def consented_requests(*, purpose: str) -> QuerySet[UseRequest]:
    """Granted (and not withdrawn) requests for `purpose`: the only outputs usable for it."""
    requests = UseRequest.objects.filter(purpose=purpose, state=UseRequest.State.GRANTED).exclude(
        output__state=Output.State.DELETED
    )
    if purpose in PUBLIC_PURPOSES:
        requests = requests.filter(output__state=Output.State.APPROVED)
    return requests.select_related("output", "output__job", "output__job__owner").order_by(
        "created_at"
    )


def use_requests_of_artist(user: User) -> QuerySet[UseRequest]:
    return (
        UseRequest.objects.filter(output__job__owner=user)
        .select_related("output", "output__job")
        .order_by("-created_at")
    )


def use_requests_for_staff() -> QuerySet[UseRequest]:
    return UseRequest.objects.select_related("output__job__owner", "requested_by").annotate(
        use_count=Count("uses")
    )


def median_decision_seconds(*, window: timedelta = MEDIAN_WINDOW) -> float | None:
    """Median time from output to decision over the decisions of the last `window`."""
    rows = Output.objects.filter(decided_at__gte=timezone.now() - window).values_list(
        "created_at", "decided_at"
    )
    waits = [(decided - created).total_seconds() for created, decided in rows if decided]
    return statistics.median(waits) if waits else None


def queue_positions(outputs: list[Output]) -> dict[object, int]:
    """1-based place in the review queue (oldest first, as reviewers see it) of the pending ones
    among `outputs`: one query, however many there are."""
    pending = [output.id for output in outputs if output.state == Output.State.PENDING]
    if not pending:
        return {}
    ahead = (
        Output.objects.filter(state=Output.State.PENDING, created_at__lt=OuterRef("created_at"))
        .order_by()
        .values("state")
        .annotate(n=Count("id"))
        .values("n")
    )
    ranked = Output.objects.filter(id__in=pending).annotate(
        position=Coalesce(Subquery(ahead), 0) + 1
    )
    return dict(ranked.values_list("id", "position"))


@dataclass(frozen=True)
class ArtistStats:
    decided: int
    approved: int
    rejected: int
    needs_changes: int
    pending: int

    @property
    def approval_rate(self) -> int | None:
        return round(100 * self.approved / self.decided) if self.decided else None


def artist_stats(user: User) -> ArtistStats:
    states = Output.State
    counts = Output.objects.filter(job__owner=user).aggregate(
        approved=Count("id", filter=Q(state__in=[states.APPROVED, states.WITHDRAWN])),
        rejected=Count("id", filter=Q(state=states.REJECTED)),
        needs_changes=Count("id", filter=Q(state=states.NEEDS_CHANGES)),
        pending=Count("id", filter=Q(state=states.PENDING)),
    )
    decided = counts["approved"] + counts["rejected"] + counts["needs_changes"]
    return ArtistStats(decided=decided, **counts)


def artist_outputs(user: User) -> QuerySet[Output]:
    """The artist's outputs, newest first, with their appeal (if any) in the same query."""
    return (
        Output.objects.filter(job__owner=user)
        .select_related("job", "appeal")
        .order_by("-created_at")
    )


def approved_outputs_of(user: User) -> QuerySet[Output]:
    return Output.objects.filter(job__owner=user, state=Output.State.APPROVED).select_related("job")


def open_appeals() -> QuerySet[Appeal]:
    return (
        Appeal.objects.filter(state=Appeal.State.OPEN)
        .select_related("output", "output__job", "author", "original_reviewer")
        .order_by("due_at")
    )


def terms_of(user: User) -> tuple[TermsVersion | None, TermsVersion | None]:
    """(the current published terms, the newest version `user` accepted)."""
    current = TermsVersion.objects.filter(published_at__isnull=False).order_by("-version").first()
    accepted = (
        TermsAcceptance.objects.filter(user=user)
        .select_related("terms")
        .order_by("-terms__version")
        .first()
    )
    return current, accepted.terms if accepted else None


THREAD_PAGE_ITEMS = 200


def _with_threads(items: QuerySet) -> QuerySet:
    return items.select_related("output__job", "thread").prefetch_related(
        Prefetch("thread__messages", queryset=ThreadMessage.objects.select_related("author"))
    )


def feedback_visible_to(user: User) -> QuerySet[Feedback]:
    """Staff see all feedback; a tester sees their own."""
    feedback = Feedback.objects.order_by("-created_at")
    return feedback if can_moderate(user) else feedback.filter(author=user)


def thread_items_of(user: User) -> tuple[list[Feedback], list[Finding]]:
    """The feedback and findings `user` may read, newest first, with statuses and messages.
    Findings stay restricted to their reporter and staff (`findings_visible_to`)."""
    return (
        list(_with_threads(feedback_visible_to(user).select_related("author"))[:THREAD_PAGE_ITEMS]),
        list(_with_threads(findings_visible_to(user))[:THREAD_PAGE_ITEMS]),
    )


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed" or "same"
    text: str


def terms_diff(old: str, new: str) -> list[DiffLine]:
    """The current terms against the version the artist accepted, line by line."""
    kinds = {"+": "added", "-": "removed", " ": "same"}
    return [
        DiffLine(kind=kinds[line[0]], text=line[2:])
        for line in difflib.ndiff(old.splitlines(), new.splitlines())
        if line[0] in kinds
    ]
