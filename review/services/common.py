"""What every review service shares: its error type, the moderator check and note cleaning."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from access.models import User
from access.roles import can_moderate

NOTE_MAX_CHARS = 2000


class ReviewError(Exception):
    """A moderation or sharing action that cannot happen; the message says why."""


def require_moderator(user: User) -> None:
    if not can_moderate(user):
        raise PermissionDenied("Only reviewers can do this.")


def require_owner(output_owner_id: int, by: User) -> None:
    """Only the output's owner, in good standing, may share it, show it or give feedback on it."""
    if output_owner_id != by.id or not by.may_act():
        raise PermissionDenied("Only the output's owner can do this.")


def clean_note(note: str, *, required: bool, what: str) -> str:
    note = (note or "").strip()
    if required and not note:
        raise ReviewError(f"A note is required {what}.")
    if len(note) > NOTE_MAX_CHARS:
        raise ReviewError(f"Notes are limited to {NOTE_MAX_CHARS} characters.")
    return note
