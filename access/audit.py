"""The audit log's vocabulary: every action name is registered once, by the app that owns it.

Like Wagtail's `LogActionRegistry`: `audit_record` refuses a name nobody registered, so a typo
fails in the test that exercises it instead of writing an entry no filter will ever find.
Higher apps register their own names (`generation/audit.py`, `review/audit.py`).
"""

from __future__ import annotations

_REGISTRY: dict[str, str] = {}


def register(name: str, label: str) -> str:
    """Register `name` ("app.entity.verb") with a human label; returns the name as a constant."""
    if _REGISTRY.get(name, label) != label:
        raise ValueError(f"Audit action {name!r} is registered twice with different labels.")
    _REGISTRY[name] = label
    return name


def is_registered(name: str) -> bool:
    return name in _REGISTRY


def label_of(name: str) -> str:
    return _REGISTRY.get(name, name)


def registered() -> dict[str, str]:
    return dict(_REGISTRY)


INVITATION_CREATED = register("access.invitation.created", "Invitation created")
INVITATION_RESENT = register("access.invitation.resent", "Invitation resent")
INVITATION_REVOKED = register("access.invitation.revoked", "Invitation revoked")
INVITATION_ACCEPTED = register("access.invitation.accepted", "Invitation accepted")
TERMS_PUBLISHED = register("access.terms.published", "Terms published")
TERMS_ACCEPTED = register("access.terms.accepted", "Terms accepted")
TOKEN_CREATED = register("access.token.created", "API token created")
TOKEN_REVOKED = register("access.token.revoked", "API token revoked")
TOKEN_SUSPENDED_SHARING = register(
    "access.token.suspended_sharing", "API token suspended for shared use"
)
SESSIONS_ENDED = register("access.sessions.ended", "Sessions ended")
TESTER_REVOKED = register("access.tester.revoked", "Tester revoked")
TESTER_SUSPENDED = register("access.tester.suspended", "Tester suspended")
TESTER_REINSTATED = register("access.tester.reinstated", "Tester reinstated")
COHORT_SUSPENDED = register("access.cohort.suspended", "Cohort suspended")
COHORT_REINSTATED = register("access.cohort.reinstated", "Cohort reinstated")
COHORT_CREATED = register("access.cohort.created", "Cohort created")
COHORT_CHANGED = register("access.cohort.changed", "Cohort changed")
PROGRAM_PAUSED = register("access.program.paused", "Program paused")
PROGRAM_RESUMED = register("access.program.resumed", "Program resumed")
USER_CREATED = register("access.user.created", "User created")
USER_CHANGED = register("access.user.changed", "User changed")
USER_ROLES_CHANGED = register("access.user.roles_changed", "Roles or permissions changed")
