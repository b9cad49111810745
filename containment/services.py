"""`contain`: end access at one scope, with every effect, at once, in one transaction.

Each owner does its own part:
- access: the standing change (tester, cohort or program), sessions ended, tokens revoked (only a
  revocation revokes them for good; otherwise they are refused through `User.may_act`);
- generation: queued jobs cancelled, running jobs stopped at their next step (`jobs_stop_for`);
- review: share links stop resolving (`share_links_down_for` counts them);
then one audit entry with the scope, reason and counts, and after commit the freed GPU slots go to
other testers.

The sockets of the scope are told twice through `realtime`: as soon as the standing change is
written (before the rest of the transaction, so a tab closes in milliseconds, not after every
session, job and share has been ended) and again after commit (for a socket that connected in
between: its connect-time check still read the old standing). If the transaction then fails, the
early message has closed sockets whose access did not end: they reconnect, and the connect check
admits them. Closing too early is the safe side of a containment; closing late is the leak.
Lifting a suspension or a pause (`release`) ends nothing elsewhere; it is access's own service.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction

from access import audit
from access.models import Cohort, Program, User
from access.services import (
    AccessError,
    audit_record,
    cohort_reinstate,
    cohort_standing_suspend,
    containment_reason,
    program_resume,
    program_standing_pause,
    require_access_manager,
    sessions_end_for,
    tester_reinstate,
    tester_standing_end,
    tokens_revoke_for,
)
from access.wording import COHORT_SUSPENDED
from generation.services import jobs_dispatch_all, jobs_stop_for
from realtime import groups
from realtime.events import AccessEndedEvent
from realtime.publisher import publish
from review.services import share_links_down_for


class Scope(StrEnum):
    TESTER = "tester"
    COHORT = "cohort"
    PROGRAM = "program"


@dataclass(frozen=True)
class Containment:
    """What one containment action ended (recorded in its audit entry)."""

    testers: int
    sessions_ended: int
    queued_jobs_cancelled: int
    running_jobs_stopped: int
    share_links_down: int
    tokens_revoked: int

    def as_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


@dataclass(frozen=True)
class _Ended:
    """What the access step decided: whose access ended, in which words, and where to tell."""

    user_ids: list[int]
    target: User | Cohort | Program
    action: str
    standing: str
    group: str
    revoke_tokens: bool


def contain(
    *,
    scope: Scope | str,
    target: User | Cohort | None,
    by: User | None,
    reason: str,
    revoke: bool = False,
) -> Containment:
    """End access at `scope` (`revoke` makes a tester's final and revokes their tokens)."""
    require_access_manager(by)
    reason = containment_reason(reason)
    with transaction.atomic():
        ended = _end_standing(Scope(scope), target, reason=reason, revoke=revoke)
        _close_sockets(ended, reason=reason)
        report = _end_everything(ended, reason=reason)
        audit_record(
            action=ended.action,
            actor=by,
            target=ended.target,
            details={"scope": str(scope), "reason": reason, **report.as_dict()},
        )
        transaction.on_commit(lambda: _after(ended, reason=reason))
    return report


def _end_standing(
    scope: Scope, target: User | Cohort | None, *, reason: str, revoke: bool
) -> _Ended:
    if scope is Scope.TESTER:
        if not isinstance(target, User):
            raise AccessError("Name the tester to contain.")
        to = User.Standing.REVOKED if revoke else User.Standing.SUSPENDED
        ids = tester_standing_end(tester=target, to=to, reason=reason)
        action = audit.TESTER_REVOKED if revoke else audit.TESTER_SUSPENDED
        return _Ended(ids, target, action, to, groups.user_group(target.pk), revoke)
    if revoke:
        raise AccessError("Only a single tester can be revoked; suspend a cohort or pause.")
    if scope is Scope.COHORT:
        if not isinstance(target, Cohort):
            raise AccessError("Name the cohort to contain.")
        ids = cohort_standing_suspend(cohort=target, reason=reason)
        return _Ended(
            ids,
            target,
            audit.COHORT_SUSPENDED,
            User.Standing.SUSPENDED,
            groups.cohort_group(target.pk),
            False,
        )
    program, ids = program_standing_pause(reason=reason)
    return _Ended(ids, program, audit.PROGRAM_PAUSED, User.Standing.PAUSED, groups.PROGRAM, False)


def _end_everything(ended: _Ended, *, reason: str) -> Containment:
    ids = ended.user_ids
    stopped = jobs_stop_for(owner_ids=ids, reason=reason)
    return Containment(
        testers=len(ids),
        sessions_ended=sessions_end_for(user_ids=ids),
        queued_jobs_cancelled=stopped.queued,
        running_jobs_stopped=stopped.running,
        share_links_down=share_links_down_for(owner_ids=ids),
        tokens_revoked=tokens_revoke_for(user_ids=ids) if ended.revoke_tokens else 0,
    )


def _close_sockets(ended: _Ended, *, reason: str) -> None:
    kind = COHORT_SUSPENDED if isinstance(ended.target, Cohort) else ended.standing
    publish(
        AccessEndedEvent(standing=ended.standing, reason=reason, kind=kind), groups=[ended.group]
    )


def _after(ended: _Ended, *, reason: str) -> None:
    _close_sockets(ended, reason=reason)
    jobs_dispatch_all()  # the slots of stopped jobs go to other testers


def release(
    *, scope: Scope | str, target: User | Cohort | None, by: User | None, reason: str = ""
) -> User | Cohort | Program:
    """Lift a suspension or a pause. Ended sessions stay ended; share links valid before resolve
    again (they were never revoked, only refused)."""
    scope = Scope(scope)
    if scope is Scope.TESTER and isinstance(target, User):
        return tester_reinstate(tester=target, by=by, reason=reason)
    if scope is Scope.COHORT and isinstance(target, Cohort):
        return cohort_reinstate(cohort=target, by=by)
    if scope is Scope.PROGRAM:
        return program_resume(by=by)
    raise AccessError(f"Name the {scope} to reinstate.")


# The named actions the staff pages, the admin and the command call.


def tester_revoke(*, tester: User, by: User | None, reason: str) -> Containment:
    """Revoke one tester for good: sessions, tokens, sockets, jobs and share links, at once."""
    return contain(scope=Scope.TESTER, target=tester, by=by, reason=reason, revoke=True)


def tester_suspend(*, tester: User, by: User | None, reason: str) -> Containment:
    """Suspend one tester (reversible); as a revocation, except that tokens come back."""
    return contain(scope=Scope.TESTER, target=tester, by=by, reason=reason)


def cohort_suspend(*, cohort: Cohort, by: User | None, reason: str) -> Containment:
    return contain(scope=Scope.COHORT, target=cohort, by=by, reason=reason)


def program_pause(*, by: User | None, reason: str) -> Containment:
    """The kill switch: every non-staff tester is out at once; staff keep working."""
    return contain(scope=Scope.PROGRAM, target=None, by=by, reason=reason)
