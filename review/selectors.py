from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from access.models import User
from review.models import Output, ShareLink
from review.services import can_moderate


def review_queue() -> QuerySet[Output]:
    """Outputs awaiting review, oldest first, with what the page shows in one query."""
    return (
        Output.objects.filter(state=Output.State.PENDING)
        .select_related("job", "job__owner")
        .order_by("created_at")
    )


def output_visible_to(*, output_id: object, user: User) -> Output | None:
    """The output if `user` may see it (owner or reviewer); None otherwise, shown as 404."""
    if not user.is_authenticated or not user.is_active or user.standing_now != "active":
        return None
    outputs = Output.objects.select_related("job", "job__owner").filter(id=output_id)
    if not can_moderate(user):
        outputs = outputs.filter(job__owner=user)
    return outputs.first()


def share_link_resolve(*, token: str) -> ShareLink | None:
    """An active link to an approved output, or None (shown as 404 / "no longer available")."""
    if not token or len(token) > 64:
        return None
    now = timezone.now()
    return (
        ShareLink.objects.select_related("output", "output__job", "output__job__owner")
        .filter(token=token, revoked_at__isnull=True, output__state=Output.State.APPROVED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .filter(output__job__owner__is_active=True, output__job__owner__standing="active")
        .first()
    )


def share_links_of(*, output: Output) -> QuerySet[ShareLink]:
    return output.share_links.filter(revoked_at__isnull=True)
