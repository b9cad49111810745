"""Every state change of moderation, sharing, feedback and findings.

Each function checks permission, changes state in one transaction with its audit entry, and sends
notifications (websocket, email) after commit.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import storages
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from access.models import Cohort, User
from access.services import audit_record
from generation.models import Job
from generation.progress import publish_job, publish_review
from review.models import Approval, Feedback, Finding, NotificationPreference, Output, ShareLink

MODERATE_PERMISSION = "review.moderate_output"
NOTE_MAX_CHARS = 2000


class ReviewError(Exception):
    """A moderation or sharing action that cannot happen; the message says why."""


def can_moderate(user: User) -> bool:
    return user.is_active and user.has_perm(MODERATE_PERMISSION)


def _require_moderator(user: User) -> None:
    if not can_moderate(user):
        raise PermissionDenied("Only reviewers can do this.")


def approvals_required_for(owner: User) -> int:
    cohort = owner.cohort
    if cohort is None:
        return 1
    if cohort.approvals_required:
        return cohort.approvals_required
    return 2 if cohort.lane == Cohort.Lane.RED_TEAM else 1


def output_register(*, job: Job, **fields) -> Output:
    """A finished job's files enter the moderation queue (called by the job service)."""
    output = Output.objects.create(
        job=job,
        state=Output.State.PENDING,
        approvals_required=approvals_required_for(job.owner),
        **fields,
    )
    transaction.on_commit(lambda: _announce(output))
    return output


def _announce(output: Output) -> None:
    publish_review(
        output_id=output.id,
        state=output.state,
        claimed_by=output.claimed_by.email if output.claimed_by_id else "",
        approvals=output.approvals.count(),
    )


def _locked(output: Output) -> Output:
    return (
        Output.objects.select_for_update(of=("self",))
        .select_related("job", "job__owner", "claimed_by")
        .get(id=output.id)
    )


# --- claims ----------------------------------------------------------------------------------


def output_claim(*, output: Output, by: User) -> Output:
    """Claim a pending item for a few minutes; refused while another reviewer holds it."""
    _require_moderator(by)
    now = timezone.now()
    until = now + timedelta(minutes=settings.REVIEW_CLAIM_MINUTES)
    free = Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now) | Q(claimed_by=by)
    claimed = Output.objects.filter(free, id=output.id, state=Output.State.PENDING).update(
        claimed_by=by, claim_expires_at=until, updated_at=now
    )
    output = Output.objects.select_related("claimed_by").get(id=output.id)
    if not claimed:
        if output.state != Output.State.PENDING:
            raise ReviewError(f"This output was already {output.get_state_display().lower()}.")
        raise ReviewError(f"Being reviewed by {output.claimed_by.email}.")
    _announce(output)
    return output


def output_release(*, output: Output, by: User) -> None:
    Output.objects.filter(id=output.id, claimed_by=by).update(
        claimed_by=None, claim_expires_at=None
    )
    _announce(Output.objects.get(id=output.id))


# --- decisions -------------------------------------------------------------------------------


def _guard_decision(output: Output, by: User) -> None:
    _require_moderator(by)
    if output.state != Output.State.PENDING:
        raise ReviewError(f"This output was already {output.get_state_display().lower()}.")
    if output.job.owner_id == by.id:
        raise ReviewError("Nobody reviews their own output.")
    if output.claimed_by_other(by):
        raise ReviewError(f"Being reviewed by {output.claimed_by.email}.")


def _clean_note(note: str, *, required: bool, what: str) -> str:
    note = (note or "").strip()
    if required and not note:
        raise ReviewError(f"A note is required {what}.")
    if len(note) > NOTE_MAX_CHARS:
        raise ReviewError(f"Notes are limited to {NOTE_MAX_CHARS} characters.")
    return note


def _decide(output: Output, by: User, *, state: str, reason: str, note: str, action: str) -> Output:
    output.state, output.decided_by, output.decided_at = state, by, timezone.now()
    output.decision_reason, output.decision_note = reason, note
    output.claimed_by, output.claim_expires_at = None, None
    output.save(
        update_fields=[
            "state",
            "decided_by",
            "decided_at",
            "decision_reason",
            "decision_note",
            "claimed_by",
            "claim_expires_at",
            "approved_sha256",
            "updated_at",
        ]
    )
    audit_record(
        action=action,
        actor=by,
        target=output,
        details={"reason": reason, "note": note, "job": str(output.job_id)},
    )
    transaction.on_commit(lambda: _after_decision(output.id))
    return output


def _after_decision(output_id) -> None:
    output = Output.objects.select_related("job", "job__owner", "claimed_by").get(id=output_id)
    publish_job(Job.objects.select_related("output").get(id=output.job_id))
    _announce(output)
    _notify_owner(output)


def _notify_owner(output: Output) -> None:
    owner = output.job.owner
    preference = NotificationPreference.objects.filter(user=owner).first()
    if output.state == Output.State.PENDING or (preference and not preference.email_on_decision):
        return
    lines = [f"Your video \u201c{output.job.prompt[:80]}\u201d: {output.get_state_display()}."]
    if output.decision_reason:
        lines.append(f"Reason: {output.decision_reason}")
    if output.decision_note:
        lines.append(f"Note from the reviewer: {output.decision_note}")
    lines.append(f"{settings.SITE_URL}/outputs/{output.id}/")
    send_mail("Vernissage: a review decision", "\n".join(lines), None, [owner.email])


def file_sha256(name: str) -> str:
    digest = hashlib.sha256()
    with storages["outputs"].open(name, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def output_approve(*, output: Output, by: User) -> Output:
    """Record one approval, bound to the file's hash; the last one needed approves the output."""
    with transaction.atomic():
        output = _locked(output)
        _guard_decision(output, by)
        current = file_sha256(output.video_name)
        if current != output.sha256:
            raise ReviewError("The stored file differs from what the worker produced.")
        try:
            with transaction.atomic():
                Approval.objects.create(output=output, reviewer=by, sha256=current)
        except IntegrityError:
            raise ReviewError("You already approved this; it needs another reviewer.") from None
        if output.approvals.count() < output.approvals_required:
            Output.objects.filter(id=output.id).update(claimed_by=None, claim_expires_at=None)
            audit_record(action="review.output.approval_recorded", actor=by, target=output)
            transaction.on_commit(lambda: _announce(output))
            return output
        output.approved_sha256 = current
        return _decide(
            output,
            by,
            state=Output.State.APPROVED,
            reason="",
            note="",
            action="review.output.approved",
        )


def output_reject(*, output: Output, by: User, reason: str, note: str = "") -> Output:
    reason = (reason or "").strip()
    if reason not in settings.REVIEW_REJECT_REASONS:
        raise ReviewError("Choose a reason for rejecting from the list.")
    note = _clean_note(note, required=reason.startswith("Other"), what="for this reason")
    with transaction.atomic():
        output = _locked(output)
        _guard_decision(output, by)
        return _decide(
            output,
            by,
            state=Output.State.REJECTED,
            reason=reason,
            note=note,
            action="review.output.rejected",
        )


def output_request_changes(*, output: Output, by: User, note: str) -> Output:
    note = _clean_note(note, required=True, what="to ask for changes")
    with transaction.atomic():
        output = _locked(output)
        _guard_decision(output, by)
        return _decide(
            output,
            by,
            state=Output.State.NEEDS_CHANGES,
            reason="Needs changes",
            note=note,
            action="review.output.changes_requested",
        )


def output_withdraw(*, output: Output, by: User, reason: str) -> Output:
    """Take an approval back: every share link of the output stops resolving at once."""
    _require_moderator(by)
    reason = _clean_note(reason, required=True, what="to withdraw an approval")
    with transaction.atomic():
        output = _locked(output)
        if output.state != Output.State.APPROVED:
            raise ReviewError("Only an approved output can be withdrawn.")
        links = output.share_links.filter(revoked_at__isnull=True).count()
        output.state, output.decision_reason = Output.State.WITHDRAWN, "Approval withdrawn"
        output.decision_note, output.decided_by, output.decided_at = reason, by, timezone.now()
        output.save(
            update_fields=[
                "state",
                "decision_reason",
                "decision_note",
                "decided_by",
                "decided_at",
                "updated_at",
            ]
        )
        audit_record(
            action="review.output.withdrawn",
            actor=by,
            target=output,
            details={"reason": reason, "active_links": links},
        )
        transaction.on_commit(lambda: _after_decision(output.id))
    return output


def output_verify_integrity(*, output: Output) -> bool:
    """True if the file still matches its approval; otherwise void it and requeue the output."""
    if (
        output.state != Output.State.APPROVED
        or file_sha256(output.video_name) == output.approved_sha256
    ):
        return True
    with transaction.atomic():
        voided = Output.objects.filter(id=output.id, state=Output.State.APPROVED).update(
            state=Output.State.PENDING,
            approved_sha256="",
            decided_by=None,
            decided_at=None,
            updated_at=timezone.now(),
        )
        if voided:
            Approval.objects.filter(output=output).delete()
            audit_record(
                action="review.output.approval_voided",
                actor=None,
                target=output,
                details={"why": "stored file changed after approval"},
            )
            transaction.on_commit(lambda: _after_decision(output.id))
    return False


@dataclass
class BulkOutcome:
    done: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def outputs_bulk_decide(
    *, output_ids: Iterable[str], by: User, decision: str, reason: str = "", note: str = ""
) -> BulkOutcome:
    """Approve or reject several items; each is decided (or refused) on its own."""
    outcome = BulkOutcome()
    for output in Output.objects.filter(id__in=list(output_ids)):
        try:
            if decision == "approve":
                output_approve(output=output, by=by)
            elif decision == "reject":
                output_reject(output=output, by=by, reason=reason, note=note)
            else:
                raise ReviewError(f"Unknown decision {decision!r}.")
            outcome.done.append(str(output.id))
        except (ReviewError, PermissionDenied) as exc:
            outcome.errors[str(output.id)] = str(exc)
    return outcome


# --- sharing, gallery, feedback, findings ------------------------------------------------------


def _require_owner(output: Output, by: User) -> None:
    if output.job.owner_id != by.id or not by.is_active or by.standing_now != User.Standing.ACTIVE:
        raise PermissionDenied("Only the output's owner can do this.")


def share_link_create(
    *, output: Output, by: User, expires_at: datetime | None = None, show_prompt: bool = False
) -> ShareLink:
    """Only the owner may share, and only an approved output; checked here, not just in the UI."""
    with transaction.atomic():
        output = _locked(output)
        _require_owner(output, by)
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
            action="review.share_link.created",
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
                action="review.share_link.revoked",
                actor=by,
                target=link.output,
                details={"link": link.pk},
            )
    link.refresh_from_db()
    return link


def share_link_record_view(*, link: ShareLink) -> None:
    ShareLink.objects.filter(id=link.id).update(view_count=F("view_count") + 1)


def output_set_gallery(*, output: Output, by: User, visible: bool) -> Output:
    _require_owner(output, by)
    if visible and output.state != Output.State.APPROVED:
        raise ReviewError("Only approved outputs can be shown in the gallery.")
    Output.objects.filter(id=output.id).update(in_gallery=visible, updated_at=timezone.now())
    output.refresh_from_db()
    return output


def feedback_submit(*, output: Output, by: User, rating: int, notes: str = "") -> Feedback:
    _require_owner(output, by)
    if rating not in range(1, 6):
        raise ReviewError("Rate from 1 to 5.")
    notes = _clean_note(notes, required=False, what="")
    feedback, _ = Feedback.objects.update_or_create(
        output=output, author=by, defaults={"rating": rating, "notes": notes}
    )
    return feedback


def finding_file(
    *, output: Output, by: User, category: str, severity: str, description: str
) -> Finding:
    from review.selectors import output_visible_to

    if not (by.is_red_teamer or can_moderate(by)):
        raise PermissionDenied("Findings are filed by red-teamers and staff.")
    if output_visible_to(output_id=output.id, user=by) is None:
        raise PermissionDenied("You cannot see this output.")
    if category not in Finding.Category.values:
        raise ReviewError("Choose a harm category from the list.")
    if severity not in Finding.Severity.values:
        raise ReviewError("Choose a severity from the list.")
    description = _clean_note(description, required=True, what="to describe the finding")
    with transaction.atomic():
        finding = Finding.objects.create(
            output=output,
            reporter=by,
            category=category,
            severity=severity,
            description=description,
        )
        audit_record(
            action="review.finding.filed",
            actor=by,
            target=finding,
            details={"output": str(output.id), "category": category, "severity": severity},
        )
    return finding


FINDING_NEXT = {
    Finding.State.NEW: (Finding.State.TRIAGED, Finding.State.RESOLVED),
    Finding.State.TRIAGED: (Finding.State.RESOLVED,),
    Finding.State.RESOLVED: (),
}


def finding_move(*, finding: Finding, by: User, to: str, note: str = "") -> Finding:
    _require_moderator(by)
    with transaction.atomic():
        finding = Finding.objects.select_for_update().get(pk=finding.pk)
        if to not in FINDING_NEXT[finding.state]:
            raise ReviewError(f"A {finding.state} finding cannot become {to}.")
        finding.state, finding.handled_by = to, by
        if note:
            finding.resolution_note = _clean_note(note, required=False, what="")
        finding.save(update_fields=["state", "handled_by", "resolution_note", "updated_at"])
        audit_record(
            action=f"review.finding.{to}", actor=by, target=finding, details={"note": note}
        )
    return finding


def notification_preference_set(*, user: User, email_on_decision: bool) -> None:
    NotificationPreference.objects.update_or_create(
        user=user, defaults={"email_on_decision": email_on_decision}
    )
