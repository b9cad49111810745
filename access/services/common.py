"""What every access service shares: its error type and the access-manager permission check."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models

from access import audit
from access.models import AuditEntry, User

MANAGE_ACCESS_PERMISSION = "access.change_invitation"


class AccessError(Exception):
    """An access action that cannot happen; the message says why, for the person who asked."""


def require_access_manager(actor: User | None) -> None:
    """None means the system itself (management commands run by an operator)."""
    if actor is not None and not (actor.is_active and actor.has_perm(MANAGE_ACCESS_PERMISSION)):
        raise PermissionDenied("Only access managers can do this.")


def audit_record(
    *,
    action: str,
    actor: User | None,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry. Call it inside the transaction of the change it records.

    `action` must be a registered name (`access.audit.register`): free strings are refused.
    """
    if not audit.is_registered(action):
        raise ValueError(f"Unregistered audit action {action!r}: register it in its app's audit.py")
    return AuditEntry.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor.email if actor is not None else "",
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:254] if target is not None else "",
        details=details or {},
        ip=ip,
    )
