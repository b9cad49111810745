"""Sessions: end them (rows deleted through allauth's usersessions, not flagged)."""

from __future__ import annotations

from allauth.usersessions.models import UserSession
from django.core.exceptions import PermissionDenied
from django.db import transaction

from access import audit
from access.models import User
from access.services.common import MANAGE_ACCESS_PERMISSION, audit_record


def sessions_end(*, user: User, by: User, ip: str | None = None) -> int:
    """End every session of `user` (rows deleted, not flagged). Returns how many were ended."""
    if by.pk != user.pk and not by.has_perm(MANAGE_ACCESS_PERMISSION):
        raise PermissionDenied("Only access managers can end another user's sessions.")
    with transaction.atomic():
        sessions = list(UserSession.objects.filter(user=user))
        for session in sessions:
            session.end()
        audit_record(
            action=audit.SESSIONS_ENDED,
            actor=by,
            target=user,
            details={"count": len(sessions)},
            ip=ip,
        )
    return len(sessions)


def sessions_end_for(*, user_ids: list[int]) -> int:
    """Containment step: end every session of these users. Returns how many were ended.

    Called inside the containment action's transaction, which writes the one audit entry.
    """
    sessions = list(UserSession.objects.filter(user_id__in=user_ids))
    for session in sessions:
        session.end()  # deletes the Django session row as well as allauth's record
    return len(sessions)
