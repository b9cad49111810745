"""Reads across the apps for the staff pages that act on testers.

`containment_impact`: what a containment action *would* end, computed without doing it, by the same
scope rules and the same filters as the action's steps (`containment.services.contain`), so the
confirm page's numbers are the ones the action then reports. `tester_activity`: each tester's jobs
and reviewed outputs, for the testers page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q
from django.template.defaultfilters import pluralize

from access.models import Cohort, Program, User
from access.selectors import live_tokens_count_for, sessions_count_for
from access.services import AccessError
from generation.models import Job
from review.models import Output
from review.services import share_links_down_for


@dataclass(frozen=True)
class Impact:
    """What one containment action would end: the fields of `containment.services.Containment`."""

    testers: int
    sessions_ended: int
    queued_jobs_cancelled: int
    running_jobs_stopped: int
    share_links_down: int
    tokens_revoked: int

    def as_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}

    def phrases(self) -> list[str]:
        """ "ends 14 sessions", "stops 3 running jobs", ...: every effect, with correct plurals."""
        return [
            f"ends {_count(self.sessions_ended, 'session')}",
            f"stops {_count(self.running_jobs_stopped, 'running job')}",
            f"cancels {_count(self.queued_jobs_cancelled, 'queued job')}",
            f"takes down {_count(self.share_links_down, 'share link')}",
            *(
                [f"revokes {_count(self.tokens_revoked, 'API token')}"]
                if self.tokens_revoked
                else []
            ),
        ]

    def sentence(self) -> str:
        *first, last = self.phrases()
        return f"{', '.join(first)} and {last}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{pluralize(number)}"


def containment_tester_ids(*, scope: str, target: User | Cohort | None) -> list[int]:
    """Whose access the action at `scope` would end, refused as its access step refuses
    (`access.services.standing`: `tester_standing_end`, `cohort_standing_suspend`,
    `program_standing_pause`)."""
    if scope == "tester":
        if not isinstance(target, User):
            raise AccessError("Name the tester to contain.")
        target = User.objects.get(pk=target.pk)  # as the action reads it, not as the caller kept it
        if target.is_staff:
            raise AccessError("Staff accounts are managed in the admin, not by standing.")
        if target.standing == User.Standing.REVOKED:
            raise AccessError("A revoked tester cannot be changed; invite them again instead.")
        return [target.pk]
    if scope == "cohort":
        if not isinstance(target, Cohort):
            raise AccessError("Name the cohort to contain.")
        target = Cohort.objects.get(pk=target.pk)
        if target.suspended_at is not None:
            raise AccessError(f"{target.name} is already suspended.")
        members = User.objects.filter(cohort=target, is_staff=False)
        return list(members.values_list("id", flat=True))
    if Program.current().paused_at is not None:
        raise AccessError("The program is already paused.")
    return list(User.objects.filter(is_staff=False).values_list("id", flat=True))


def containment_impact(*, scope: str, target: User | Cohort | None, revoke: bool = False) -> Impact:
    """What `contain(scope=..., target=..., revoke=...)` would end now; raises the AccessError the
    action itself would raise (a staff account, a revoked tester, a cohort already suspended)."""
    if revoke and scope != "tester":
        raise AccessError("Only a single tester can be revoked; suspend a cohort or pause.")
    ids = containment_tester_ids(scope=scope, target=target)
    jobs = Job.objects.filter(owner_id__in=ids)  # the rows `jobs_stop_for` moves
    return Impact(
        testers=len(ids),
        sessions_ended=sessions_count_for(user_ids=ids),
        queued_jobs_cancelled=jobs.filter(state=Job.State.QUEUED).count(),
        running_jobs_stopped=jobs.filter(state=Job.State.RUNNING).count(),
        share_links_down=share_links_down_for(owner_ids=ids),  # a count: it writes nothing
        tokens_revoked=live_tokens_count_for(user_ids=ids) if revoke else 0,
    )


@dataclass(frozen=True)
class Activity:
    jobs: int = 0
    approved: int = 0
    rejected: int = 0
    needs_changes: int = 0
    pending: int = 0

    @property
    def reviewed(self) -> int:
        return self.approved + self.rejected + self.needs_changes


REVIEW_STATES = ("approved", "rejected", "needs_changes", "pending")


def tester_activity(*, tester_ids: Iterable[int]) -> dict[int, Activity]:
    """Each tester's job count and their outputs by review state: two queries for a whole page."""
    ids = list(tester_ids)
    jobs = dict(
        Job.objects.filter(owner_id__in=ids)
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    states = Output.State
    rows = (
        Output.objects.filter(job__owner_id__in=ids)
        .values("job__owner_id")
        .annotate(
            approved=Count("id", filter=Q(state=states.APPROVED)),
            rejected=Count("id", filter=Q(state=states.REJECTED)),
            needs_changes=Count("id", filter=Q(state=states.NEEDS_CHANGES)),
            pending=Count("id", filter=Q(state=states.PENDING)),
        )
    )
    reviews = {
        row["job__owner_id"]: {key: row[key] for key in REVIEW_STATES}  # type: ignore[literal-required]
        for row in rows
    }
    return {pk: Activity(jobs=jobs.get(pk, 0), **reviews.get(pk, {})) for pk in ids}
