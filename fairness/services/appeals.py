"""Appeals: once per rejected or needs-changes output, decided by a different reviewer."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from access.models import User
from access.roles import can_moderate
from access.services import audit_record
from fairness import audit
from fairness.models import Appeal
from fairness.services.common import FairnessError, clean_text, notify_artist
from review.models import Output
from review.services import ReviewError, output_overturn

APPEALABLE = (Output.State.REJECTED, Output.State.NEEDS_CHANGES)


def appeal_file(*, output: Output, by: User, note: str) -> Appeal:
    """The artist appeals a rejection or a request for changes, once, with a note."""
    if output.job.owner_id != by.id or not by.may_act():
        raise PermissionDenied("Only the output's artist can appeal its review.")
    note = clean_text(note, what="A note for the appeal")
    if output.state not in APPEALABLE:
        raise FairnessError("Only a rejected or needs-changes output can be appealed.")
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(
                output=output,
                author=by,
                note=note,
                appealed_state=output.state,
                appealed_reason=output.decision_reason,
                original_reviewer_id=output.decided_by_id,
                due_at=timezone.now() + timedelta(hours=settings.APPEAL_SLA_HOURS),
            )
            audit_record(
                action=audit.APPEAL_FILED,
                actor=by,
                target=output,
                details={"appeal": appeal.pk, "note": note},
            )
    except IntegrityError:
        raise FairnessError(
            "This output was already appealed; an output is appealed once."
        ) from None
    return appeal


def appeal_decide(*, appeal: Appeal, by: User, overturn: bool, note: str) -> Appeal:
    """Uphold or overturn, with a reason the artist reads (live and by email)."""
    if not can_moderate(by):
        raise PermissionDenied("Only reviewers decide appeals.")
    note = clean_text(note, what="A reason for the artist")
    with transaction.atomic():
        appeal = Appeal.objects.select_for_update().select_related("output").get(pk=appeal.pk)
        if appeal.state != Appeal.State.OPEN:
            raise FairnessError(f"This appeal was already decided ({appeal.get_state_display()}).")
        if by.id in (appeal.original_reviewer_id, appeal.author_id):
            raise FairnessError("An appeal goes to a reviewer other than the one who decided.")
        if overturn:
            try:
                output_overturn(output=appeal.output, by=by, note=note)
            except ReviewError as exc:
                raise FairnessError(str(exc)) from exc
        to = Appeal.State.OVERTURNED if overturn else Appeal.State.UPHELD
        Appeal.objects.filter(pk=appeal.pk).transition(
            to, decided_by=by, decided_at=timezone.now(), decision_note=note
        )
        appeal.refresh_from_db()
        audit_record(
            action=audit.APPEAL_OVERTURNED if overturn else audit.APPEAL_UPHELD,
            actor=by,
            target=appeal.output,
            details={"appeal": appeal.pk, "note": note},
        )
        appeal.output.refresh_from_db()
        _tell_artist(appeal)
    return appeal


def _tell_artist(appeal: Appeal) -> None:
    output = appeal.output
    lines = [
        f"Your appeal of \u201c{output.job.prompt[:80]}\u201d: {appeal.get_state_display()}.",
        f"Reason: {appeal.decision_note}",
    ]
    if output.state == Output.State.PENDING:  # its lane needs one more approval
        lines.append("It is back in the review queue for the further approval its lane needs.")
    notify_artist(
        user=output.job.owner,
        kind="appeal",
        subject="your appeal was decided",
        lines=lines,
        path=reverse("artist_home"),
    )
