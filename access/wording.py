"""The words a person reads when their access ends: one title and one explanation per cause, so
a suspended tester, a revoked one, a suspended cohort and a paused program each read their own."""

from __future__ import annotations

from typing import NamedTuple

from access.models import User


class Ended(NamedTuple):
    title: str
    explanation: str


COHORT_SUSPENDED = "cohort_suspended"

ACCESS_ENDED: dict[str, Ended] = {
    User.Standing.SUSPENDED: Ended(
        "Your access is suspended",
        "Your account is on hold while the Vernissage team looks into something. Nothing you "
        "made has been deleted; you can sign in again if the team reinstates you.",
    ),
    User.Standing.REVOKED: Ended(
        "Your access has been revoked",
        "Your place in the alpha has ended. Your share links and API tokens no longer work.",
    ),
    COHORT_SUSPENDED: Ended(
        "Your cohort is suspended",
        "Access is on hold for everyone in your cohort, not only for you. You can sign in again "
        "when the team reinstates the cohort.",
    ),
    User.Standing.PAUSED: Ended(
        "The alpha program is paused",
        "Generation is paused for every tester. Nothing you made has been deleted; you can sign "
        "in again when the program resumes.",
    ),
    User.Standing.EXPIRED: Ended(
        "Your alpha window is closed",
        "Your cohort's testing window is not open: it has ended, or it has not started yet.",
    ),
}
UNKNOWN = Ended("Your access has ended", "Your access to the alpha has ended.")


def access_ended_kind(user: User) -> str:
    """Why this user may not act now: their standing, or "cohort_suspended" when the account
    itself is active and its cohort is what was suspended."""
    standing = user.standing_now
    cohort = user.cohort
    if (
        standing == User.Standing.SUSPENDED
        and user.standing == User.Standing.ACTIVE
        and cohort is not None
        and cohort.suspended_at is not None
    ):
        return COHORT_SUSPENDED
    return standing


def access_ended_words(kind: str) -> Ended:
    return ACCESS_ENDED.get(kind, UNKNOWN)
