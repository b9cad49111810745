"""Undo: a reviewer takes their own decision back within a few seconds (the queue's Undo button).

The decision must still be the output's latest (nobody decided, overturned or withdrew since), the
reviewer's own latest (Undo ends at their next decision, on any item) and younger than
`REVIEW_UNDO_SECONDS`. The output returns to the queue, claimed by the same reviewer,
and whatever the decision made possible is taken down with it: share links the owner created
meanwhile are revoked and the gallery opt-in is cleared. One audit entry records what was undone.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from access.models import User
from access.services import audit_record
from review import audit
from review.models import Approval, Output
from review.services.common import ReviewError, require_moderator
from review.services.moderation import after_decision, locked

DECIDED = (Output.State.APPROVED, Output.State.REJECTED, Output.State.NEEDS_CHANGES)


def undo_window() -> timedelta:
    return timedelta(seconds=settings.REVIEW_UNDO_SECONDS)


def output_decision_undo(*, output: Output, by: User) -> Output:
    """Restore the review state before `by`'s latest decision on `output`; ReviewError (409) when
    it is not theirs, no longer the latest, or older than the undo window."""
    require_moderator(by)
    with transaction.atomic():
        output = locked(output)
        decided_at = _undoable_since(output, by)
        if timezone.now() - decided_at > undo_window():
            raise ReviewError("Too late to undo: the decision stands.")
        if _decided_another_since(output, by, decided_at):
            raise ReviewError(
                "Too late to undo: you have decided another item since; this decision stands."
            )
        previous = output.state
        now = timezone.now()
        links = output.share_links.filter(revoked_at__isnull=True).update(
            revoked_at=now, updated_at=now
        )
        Approval.objects.filter(output=output, reviewer=by).delete()
        changes = {
            "claimed_by": by,
            "claim_expires_at": now + timedelta(minutes=settings.REVIEW_CLAIM_MINUTES),
            "in_gallery": False,
        }
        if previous != Output.State.PENDING:
            restored = Output.objects.filter(id=output.id, decided_by=by).transition(
                Output.State.PENDING,
                decided_by=None,
                decided_at=None,
                decision_reason="",
                decision_note="",
                approved_sha256="",
                **changes,
            )
            if not restored:
                raise ReviewError("Another decision was made meanwhile; it stands.")
        else:
            Output.objects.filter(id=output.id).update(updated_at=now, **changes)
        audit_record(
            action=audit.OUTPUT_DECISION_UNDONE,
            actor=by,
            target=output,
            details={
                "undone": previous if previous != Output.State.PENDING else "approval",
                "reason": output.decision_reason,
                "note": output.decision_note,
                "share_links_revoked": links,
            },
        )
        output_id = output.id
        transaction.on_commit(lambda: after_decision(output_id, notify_owner=False))
    output.refresh_from_db()
    return output


def _decided_another_since(output: Output, by: User, since) -> bool:
    """Whether `by` decided (or approved) another output after `since`."""
    others = Output.objects.exclude(id=output.id)
    if others.filter(decided_by=by, decided_at__gt=since).exists():
        return True
    return (
        Approval.objects.filter(reviewer=by, created_at__gt=since).exclude(output=output).exists()
    )


def _undoable_since(output: Output, by: User):
    """When `by` made the decision that undo would take back; ReviewError if there is none."""
    if output.state in DECIDED:
        if output.decided_by_id != by.id or output.decided_at is None:
            raise ReviewError("Only the reviewer who made the latest decision can undo it.")
        return output.decided_at
    if output.state == Output.State.PENDING:
        # One approval of several: the item is still pending, with `by`'s approval on it.
        approval = Approval.objects.filter(output=output, reviewer=by).first()
        if approval is not None:
            return approval.created_at
    raise ReviewError("There is no decision of yours to undo on this item.")
