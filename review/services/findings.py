"""Findings (red-teamers' harm reports), feedback to the lab, and notification preferences."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from access.models import User
from access.roles import can_moderate
from access.services import audit_record
from review import audit
from review.models import Feedback, Finding, NotificationPreference, Output
from review.selectors import output_visible_to
from review.services.common import ReviewError, clean_note, require_moderator, require_owner


def feedback_submit(*, output: Output, by: User, rating: int, notes: str = "") -> Feedback:
    require_owner(output.job.owner_id, by)
    if rating not in range(1, 6):
        raise ReviewError("Rate from 1 to 5.")
    notes = clean_note(notes, required=False, what="")
    feedback, _ = Feedback.objects.update_or_create(
        output=output, author=by, defaults={"rating": rating, "notes": notes}
    )
    return feedback


def finding_file(
    *, output: Output, by: User, category: str, severity: str, description: str
) -> Finding:
    if not (by.is_red_teamer or can_moderate(by)):
        raise PermissionDenied("Findings are filed by red-teamers and staff.")
    if output_visible_to(output_id=output.id, user=by) is None:
        raise PermissionDenied("You cannot see this output.")
    if category not in Finding.Category.values:
        raise ReviewError("Choose a harm category from the list.")
    if severity not in Finding.Severity.values:
        raise ReviewError("Choose a severity from the list.")
    description = clean_note(description, required=True, what="to describe the finding")
    with transaction.atomic():
        finding = Finding.objects.create(
            output=output,
            reporter=by,
            category=category,
            severity=severity,
            description=description,
        )
        audit_record(
            action=audit.FINDING_FILED,
            actor=by,
            target=finding,
            details={"output": str(output.id), "category": category, "severity": severity},
        )
    return finding


FINDING_NEXT: dict[str, tuple[str, ...]] = {
    Finding.State.NEW: (Finding.State.TRIAGED, Finding.State.RESOLVED),
    Finding.State.TRIAGED: (Finding.State.RESOLVED,),
    Finding.State.RESOLVED: (),
}


def finding_move(*, finding: Finding, by: User, to: str, note: str = "") -> Finding:
    require_moderator(by)
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding.pk)
        if to not in FINDING_NEXT[finding.state]:
            raise ReviewError(f"A {finding.state} finding cannot become {to}.")
        finding.state, finding.handled_by = to, by
        if note:
            finding.resolution_note = clean_note(note, required=False, what="")
        finding.save(update_fields=["state", "handled_by", "resolution_note", "updated_at"])
        audit_record(
            action=audit.FINDING_MOVED[to], actor=by, target=finding, details={"note": note}
        )
    return finding


def notification_preference_set(*, user: User, email_on_decision: bool) -> None:
    NotificationPreference.objects.update_or_create(
        user=user, defaults={"email_on_decision": email_on_decision}
    )
