"""Every state change of moderation and sharing."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from access.models import User
from generation.models import Job
from generation.progress import publish_job
from review.models import Output, ShareLink

MODERATE_PERMISSION = "review.moderate_output"
REASON_MAX_CHARS = 1000


class ReviewError(Exception):
    """A moderation or sharing action that cannot happen; the message says why."""


def can_moderate(user: User) -> bool:
    return user.is_active and user.has_perm(MODERATE_PERMISSION)


def output_register(*, job: Job, **fields) -> Output:
    """A finished job's files enter the moderation queue (called by the job service)."""
    return Output.objects.create(job=job, state=Output.State.PENDING, **fields)


def _decide(*, output: Output, by: User, state: str, reason: str) -> Output:
    if not can_moderate(by):
        raise PermissionDenied("Only reviewers can decide on outputs.")
    with transaction.atomic():
        decided = Output.objects.filter(id=output.id, state=Output.State.PENDING).update(
            state=state,
            decided_by=by,
            decided_at=timezone.now(),
            decision_reason=reason,
            updated_at=timezone.now(),
        )
        if not decided:
            output.refresh_from_db()
            raise ReviewError(f"This output was already {output.get_state_display().lower()}.")
        output.refresh_from_db()
        transaction.on_commit(lambda: publish_job(output.job))
    return output


def output_approve(*, output: Output, by: User) -> Output:
    return _decide(output=output, by=by, state=Output.State.APPROVED, reason="")


def output_reject(*, output: Output, by: User, reason: str) -> Output:
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("A reason is required to reject an output.")
    if len(reason) > REASON_MAX_CHARS:
        raise ReviewError(f"The reason is limited to {REASON_MAX_CHARS} characters.")
    return _decide(output=output, by=by, state=Output.State.REJECTED, reason=reason)


def share_link_create(*, output: Output, by: User, expires_at: datetime | None = None) -> ShareLink:
    """Only the owner may share, and only an approved output; checked here, not just in the UI."""
    with transaction.atomic():
        output = Output.objects.select_for_update().select_related("job").get(id=output.id)
        if output.job.owner_id != by.id or not by.is_active:
            raise PermissionDenied("Only the output's owner can share it.")
        if output.state != Output.State.APPROVED:
            raise ReviewError("Only approved outputs can be shared.")
        if expires_at is not None and expires_at <= timezone.now():
            raise ReviewError("The expiry must be in the future.")
        return ShareLink.objects.create(
            output=output, token=secrets.token_urlsafe(32), created_by=by, expires_at=expires_at
        )


def share_link_revoke(*, link: ShareLink, by: User) -> ShareLink:
    if link.created_by_id != by.id and not can_moderate(by):
        raise PermissionDenied("Only the link's owner or a reviewer can revoke it.")
    ShareLink.objects.filter(id=link.id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), updated_at=timezone.now()
    )
    link.refresh_from_db()
    return link


def share_link_record_view(*, link: ShareLink) -> None:
    from django.db.models import F

    ShareLink.objects.filter(id=link.id).update(view_count=F("view_count") + 1)
