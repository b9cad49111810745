"""Sharing: share links to approved outputs, the gallery opt-in, and the containment step that
counts the links a containment action takes down."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from access.models import User
from access.roles import can_moderate
from access.services import audit_record
from review import audit
from review.models import Output, ShareLink
from review.services.common import ReviewError, require_owner
from review.services.moderation import locked


def share_link_create(
    *, output: Output, by: User, expires_at: datetime | None = None, show_prompt: bool = False
) -> ShareLink:
    """Only the owner may share, and only an approved output; checked here, not just in the UI."""
    with transaction.atomic():
        output = locked(output)
        require_owner(output.job.owner_id, by)
        if output.state != Output.State.APPROVED:
            raise ReviewError("Only approved outputs can be shared.")
        if expires_at is not None and expires_at <= timezone.now():
            raise ReviewError("The expiry must be in the future.")
        link = ShareLink.objects.create(
            output=output,
            token=secrets.token_urlsafe(32),
            created_by=by,
            expires_at=expires_at,
            show_prompt=show_prompt,
        )
        audit_record(
            action=audit.SHARE_LINK_CREATED,
            actor=by,
            target=output,
            details={"link": link.pk, "expires_at": expires_at.isoformat() if expires_at else None},
        )
    return link


def share_link_revoke(*, link: ShareLink, by: User) -> ShareLink:
    if link.created_by_id != by.id and not can_moderate(by):
        raise PermissionDenied("Only the link's owner or a reviewer can revoke it.")
    with transaction.atomic():
        revoked = ShareLink.objects.filter(id=link.id, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), updated_at=timezone.now()
        )
        if revoked:
            audit_record(
                action=audit.SHARE_LINK_REVOKED,
                actor=by,
                target=link.output,
                details={"link": link.pk},
            )
    link.refresh_from_db()
    return link


def share_link_record_view(*, link: ShareLink) -> None:
    ShareLink.objects.filter(id=link.id).update(
        view_count=F("view_count") + 1, last_viewed_at=timezone.now()
    )


def output_set_gallery(*, output: Output, by: User, visible: bool) -> Output:
    require_owner(output.job.owner_id, by)
    if visible and output.state != Output.State.APPROVED:
        raise ReviewError("Only approved outputs can be shown in the gallery.")
    Output.objects.filter(id=output.id).update(in_gallery=visible, updated_at=timezone.now())
    output.refresh_from_db()
    return output


def share_links_down_for(*, owner_ids: Iterable[int]) -> int:
    """Containment step: how many live links of these owners stop resolving now.

    Nothing is written: a link resolves only while its owner `may_act()` (see
    `review.selectors.share_link_resolve`), so the standing change that containment just made
    takes them down, and reinstating or resuming restores exactly those that were valid before.
    """
    now = timezone.now()
    return (
        ShareLink.objects.filter(
            created_by_id__in=list(owner_ids),
            revoked_at__isnull=True,
            output__state=Output.State.APPROVED,
        )
        .filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))
        .count()
    )
