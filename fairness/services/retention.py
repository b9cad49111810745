"""Retention and deletion: an artist deletes their own outputs, a cohort's retention period
deletes old ones, and a legal hold on a tester pauses both. Deleting is review's `output_erase`:
files and share links go, the row and the audit trail of who made what stay.

Deletion and hold placement both lock the tester's row first, so a hold placed while a deletion
runs waits for it, and a deletion after the hold sees it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.models import Cohort, User
from access.roles import can_place_legal_hold
from access.services import audit_record
from fairness import audit
from fairness.models import LegalHold
from fairness.services.common import FairnessError, clean_text
from review.models import Output
from review.services import ReviewError, output_erase

HOLD_REASON_MAX_CHARS = 500
HELD = "A legal hold for an investigation pauses the deletion of your videos."


def _lock_tester(tester_id: int) -> bool:
    """Lock the tester's row; True if a legal hold is active on them."""
    User.objects.select_for_update().filter(pk=tester_id).first()
    return LegalHold.objects.filter(tester_id=tester_id, released_at__isnull=True).exists()


def output_delete(*, output: Output, by: User) -> Output:
    """The artist deletes one of their outputs, unless a legal hold pauses deletion."""
    if output.job.owner_id != by.id:
        raise PermissionDenied("Only the output's artist can delete it.")
    with transaction.atomic():
        if _lock_tester(by.id):
            raise FairnessError(HELD)
        try:
            return output_erase(output=output, by=by, why="deleted by its artist")
        except ReviewError as exc:
            raise FairnessError(str(exc)) from exc


def outputs_retention_sweep(*, now: datetime | None = None) -> int:
    """Delete the outputs older than their cohort's retention period, except those of testers
    under a legal hold. Returns how many were deleted. Run it daily:
    `manage.py retention_sweep`."""
    now = now or timezone.now()
    deleted = 0
    for cohort in Cohort.objects.filter(retention_days__isnull=False):
        cutoff = now - timedelta(days=cohort.retention_days or 0)
        expired = Output.objects.filter(job__owner__cohort=cohort, created_at__lt=cutoff).exclude(
            state=Output.State.DELETED
        )
        for output in expired.select_related("job"):
            with transaction.atomic():
                if _lock_tester(output.job.owner_id):
                    continue
                try:
                    output_erase(
                        output=output, by=None, why=f"retention: {cohort.retention_days} days"
                    )
                except ReviewError:
                    continue  # deleted meanwhile
                deleted += 1
    return deleted


def legal_hold_place(*, tester: User, by: User, reason: str) -> LegalHold:
    if not can_place_legal_hold(by):
        raise PermissionDenied("Only staff who manage access place legal holds.")
    reason = clean_text(reason, what="A reason", max_chars=HOLD_REASON_MAX_CHARS)
    try:
        with transaction.atomic():
            _lock_tester(tester.pk)
            hold = LegalHold.objects.create(tester=tester, reason=reason, placed_by=by)
            audit_record(
                action=audit.LEGAL_HOLD_PLACED,
                actor=by,
                target=tester,
                details={"hold": hold.pk, "reason": reason},
            )
    except IntegrityError:
        raise FairnessError(f"{tester.email} is already under a legal hold.") from None
    return hold


def legal_hold_release(*, hold: LegalHold, by: User) -> LegalHold:
    if not can_place_legal_hold(by):
        raise PermissionDenied("Only staff who manage access release legal holds.")
    with transaction.atomic():
        released = LegalHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
            released_at=timezone.now(), released_by=by, updated_at=timezone.now()
        )
        if not released:
            raise FairnessError("This hold was already released.")
        audit_record(
            action=audit.LEGAL_HOLD_RELEASED,
            actor=by,
            target=hold.tester,
            details={"hold": hold.pk},
        )
    hold.refresh_from_db()
    return hold
