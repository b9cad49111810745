"""Moderation: outputs enter the queue, reviewers claim and decide them, approvals are bound to the
file's hash. Every decision is one conditional UPDATE through `Output.objects.transition`, audited
in the same transaction; sockets and email hear of it after commit."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import storages
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from access.models import Cohort, User
from access.services import audit_record
from generation.models import Job
from generation.outputs_store import STORAGE_ERRORS
from generation.progress import publish_job
from realtime import groups
from realtime.events import ReviewItemEvent
from realtime.publisher import publish
from review import audit
from review.models import Approval, NotificationPreference, Output
from review.services.common import ReviewError, clean_note, require_moderator
from review.signals import output_decided_send

logger = logging.getLogger(__name__)


def approvals_required_for(owner: User) -> int:
    cohort = owner.cohort
    if cohort is None:
        return 1
    if cohort.approvals_required:
        return cohort.approvals_required
    return 2 if cohort.lane == Cohort.Lane.RED_TEAM else 1


def output_register(*, job: Job, **fields: Any) -> Output:
    """A finished job's files enter the moderation queue (the worker calls it in the same
    transaction as `job_succeed`)."""
    output = Output.objects.create(
        job=job,
        state=Output.State.PENDING,
        approvals_required=approvals_required_for(job.owner),
        **fields,
    )
    transaction.on_commit(lambda: _announce(output))
    return output


def _announce(output: Output) -> None:
    """Tell every open review queue that an item was claimed, released or decided."""
    event = ReviewItemEvent(
        id=str(output.id),
        state=output.state,
        claimed_by=output.claimed_by.email if output.claimed_by else "",
        approvals=output.approvals.count(),
    )
    publish(event, groups=[groups.REVIEWERS])


def locked(output: Output) -> Output:
    return (
        Output.objects.select_for_update(of=("self",))
        .select_related("job", "job__owner", "claimed_by")
        .get(id=output.id)
    )


# --- claims ----------------------------------------------------------------------------------


def output_claim(*, output: Output, by: User) -> Output:
    """Claim a pending item for a few minutes; refused while another reviewer holds it."""
    require_moderator(by)
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
        raise _claimed_by_other(output)
    _announce(output)
    return output


def _claimed_by_other(output: Output) -> ReviewError:
    # The holder may have released the claim since it refused ours: name them only if still there.
    holder = output.claimed_by
    return ReviewError(f"Being reviewed by {holder.email if holder else 'another reviewer'}.")


def output_release(*, output: Output, by: User) -> None:
    Output.objects.filter(id=output.id, claimed_by=by).update(
        claimed_by=None, claim_expires_at=None
    )
    _announce(Output.objects.get(id=output.id))


# --- decisions -------------------------------------------------------------------------------


def _guard_decision(output: Output, by: User) -> None:
    require_moderator(by)
    if output.state != Output.State.PENDING:
        raise ReviewError(f"This output was already {output.get_state_display().lower()}.")
    if output.job.owner_id == by.id:
        raise ReviewError("Nobody reviews their own output.")
    if output.claimed_by_other(by):
        raise _claimed_by_other(output)


def _decide(
    output: Output,
    by: User,
    *,
    state: str,
    reason: str,
    note: str,
    action: str,
    approved_sha256: str = "",
    notify_owner: bool = True,
) -> Output:
    decided = Output.objects.filter(id=output.id).transition(
        state,
        decided_by=by,
        decided_at=timezone.now(),
        decision_reason=reason,
        decision_note=note,
        claimed_by=None,
        claim_expires_at=None,
        approved_sha256=approved_sha256,
    )
    if not decided:
        raise ReviewError("This output was decided by someone else meanwhile.")
    output.refresh_from_db()
    audit_record(
        action=action,
        actor=by,
        target=output,
        details={"reason": reason, "note": note, "job": str(output.job_id)},
    )
    transaction.on_commit(lambda: after_decision(output.id, notify_owner=notify_owner))
    return output


def after_decision(output_id, *, notify_owner: bool = True) -> None:
    output = Output.objects.select_related("job", "job__owner", "claimed_by").get(id=output_id)
    publish_job(Job.objects.select_related("output").get(id=output.job_id))
    _announce(output)
    output_decided_send(output)
    if notify_owner:
        _schedule_decision_mail(output)


DECISION_MAIL_TASK = "review.decision_mail"


def _schedule_decision_mail(output: Output) -> None:
    """The owner's email waits out the reviewer's undo window (on the CPU worker's `hooks`
    queue, with the webhooks): a decision taken back in time sends none. With the broker away it
    goes at once, as an email that may be undone is better than none."""
    from config.celery import app

    if output.state == Output.State.PENDING or output.decided_at is None:
        return  # nothing decided yet (a first approval of two)
    try:
        app.send_task(
            DECISION_MAIL_TASK,
            args=[str(output.id), output.state, output.decided_at.isoformat()],
            queue=settings.WEBHOOK_QUEUE,
            countdown=settings.REVIEW_UNDO_SECONDS + 1,
        )
    except Exception as exc:
        logger.warning("Could not delay the decision email of %s (sent now): %s", output.id, exc)
        _notify_owner(output)


def decision_mail_send(*, output_id: str, state: str, decided_at: str) -> bool:
    """Email the owner the decision `state` taken at `decided_at`, if it still stands (not
    undone, not decided again since). Returns whether the decision stood."""
    output = Output.objects.select_related("job", "job__owner").filter(id=output_id).first()
    if output is None or output.state != state or output.decided_at is None:
        return False
    if output.decided_at.isoformat() != decided_at:
        return False
    _notify_owner(output)
    return True


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


def _untouched_since_approval(output: Output) -> bool:
    storage = storages["outputs"]
    return (
        output.decided_at is not None
        and storage.size(output.video_name) == output.size_bytes
        and storage.get_modified_time(output.video_name) <= output.decided_at
    )


def output_approve(*, output: Output, by: User) -> Output:
    """Record one approval, bound to the file's hash; the last one needed approves the output."""
    with transaction.atomic():
        output = locked(output)
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
            audit_record(action=audit.APPROVAL_RECORDED, actor=by, target=output)
            transaction.on_commit(lambda: _announce(output))
            return output
        return _decide(
            output,
            by,
            state=Output.State.APPROVED,
            reason="",
            note="",
            action=audit.OUTPUT_APPROVED,
            approved_sha256=current,
        )


def output_reject(*, output: Output, by: User, reason: str, note: str = "") -> Output:
    reason = (reason or "").strip()
    if reason not in settings.REVIEW_REJECT_REASONS:
        raise ReviewError("Choose a reason for rejecting from the list.")
    note = clean_note(note, required=reason.startswith("Other"), what="for this reason")
    with transaction.atomic():
        output = locked(output)
        _guard_decision(output, by)
        return _decide(
            output,
            by,
            state=Output.State.REJECTED,
            reason=reason,
            note=note,
            action=audit.OUTPUT_REJECTED,
        )


def output_request_changes(*, output: Output, by: User, note: str) -> Output:
    note = clean_note(note, required=True, what="to ask for changes")
    with transaction.atomic():
        output = locked(output)
        _guard_decision(output, by)
        return _decide(
            output,
            by,
            state=Output.State.NEEDS_CHANGES,
            reason="",  # the state says it; the note says what to change
            note=note,
            action=audit.OUTPUT_CHANGES_REQUESTED,
        )


def output_overturn(*, output: Output, by: User, note: str) -> Output:
    """Approve a rejected or needs-changes output on appeal, by a reviewer other than the one who
    decided it (four eyes again), bound to the file's hash like any approval. An output whose lane
    needs more approvals (the red-team lane's two) goes back to the queue, PENDING with this one
    approval, and a further reviewer completes it as usual. The caller (the appeal) tells the
    owner, once, so this sends no decision email of its own."""
    note = clean_note(note, required=True, what="to overturn a decision")
    with transaction.atomic():
        output = locked(output)
        require_moderator(by)
        if output.state not in (Output.State.REJECTED, Output.State.NEEDS_CHANGES):
            raise ReviewError("Only a rejected or needs-changes output can be overturned.")
        if output.job.owner_id == by.id:
            raise ReviewError("Nobody reviews their own output.")
        if output.decided_by_id == by.id:
            raise ReviewError("The reviewer who made a decision cannot overturn it.")
        current = file_sha256(output.video_name)
        if current != output.sha256:
            raise ReviewError("The stored file differs from what the worker produced.")
        Approval.objects.get_or_create(output=output, reviewer=by, defaults={"sha256": current})
        if output.approvals.count() < output.approvals_required:
            return _decide(
                output,
                by,
                state=Output.State.PENDING,
                reason="Overturned on appeal; awaiting another approval",
                note=note,
                action=audit.OUTPUT_OVERTURNED,
                notify_owner=False,
            )
        return _decide(
            output,
            by,
            state=Output.State.APPROVED,
            reason="Approved on appeal",
            note=note,
            action=audit.OUTPUT_OVERTURNED,
            approved_sha256=current,
            notify_owner=False,
        )


def output_withdraw(*, output: Output, by: User, reason: str) -> Output:
    """Take an approval back: every share link of the output stops resolving at once."""
    require_moderator(by)
    reason = clean_note(reason, required=True, what="to withdraw an approval")
    with transaction.atomic():
        output = locked(output)
        if output.state != Output.State.APPROVED:
            raise ReviewError("Only an approved output can be withdrawn.")
        links = output.share_links.filter(revoked_at__isnull=True).count()
        Output.objects.filter(id=output.id).transition(
            Output.State.WITHDRAWN,
            decision_reason="Approval withdrawn",
            decision_note=reason,
            decided_by=by,
            decided_at=timezone.now(),
        )
        output.refresh_from_db()
        audit_record(
            action=audit.OUTPUT_WITHDRAWN,
            actor=by,
            target=output,
            details={"reason": reason, "active_links": links},
        )
        transaction.on_commit(lambda: after_decision(output.id))
    return output


def output_erase(*, output: Output, by: User | None, why: str) -> Output:
    """Erase an output's files (video and poster) and every way to reach them (share links, the
    gallery). The row stays, DELETED, and one audit entry keeps the trace a leak investigation
    needs: output, job, tester, file hash and prompt. `by` is its owner, or None when the cohort's
    retention period ran out (the caller decides that, and legal holds)."""
    with transaction.atomic():
        output = locked(output)
        if by is not None and (output.job.owner_id != by.id or not by.may_act()):
            raise PermissionDenied("Only the output's artist can delete it.")
        now = timezone.now()
        # Every link's own marked copy goes too (revoked links' copies are still on disk); their
        # serials stay in the audit entry, so a copy leaked earlier still names its link.
        copies = list(
            output.share_links.exclude(marked_video_name="").values_list(
                "pk", "marked_video_name", "mark_serial"
            )
        )
        links = output.share_links.filter(revoked_at__isnull=True).update(
            revoked_at=now, updated_at=now
        )
        erased = Output.objects.filter(id=output.id).transition(
            Output.State.DELETED,
            deleted_at=now,
            in_gallery=False,
            claimed_by=None,
            claim_expires_at=None,
        )
        if not erased:
            raise ReviewError("This output was already deleted.")
        owner = output.job.owner
        audit_record(
            action=audit.OUTPUT_ERASED,
            actor=by,
            target=output,
            details={
                "why": why,
                "job": str(output.job_id),
                "tester": owner.pk,
                "tester_email": owner.email,
                "sha256": output.sha256,
                "prompt": output.job.prompt,
                "created_at": output.created_at.isoformat(),
                "share_links_revoked": links,
                "mark_serial": output.mark_serial,
                "share_link_serials": {str(pk): serial for pk, _name, serial in copies},
            },
        )
        names = [output.video_name, output.poster_name]
        for _pk, video_name, _serial in copies:
            names += [video_name, str(PurePosixPath(video_name).with_name("poster.jpg"))]
        transaction.on_commit(lambda: _delete_files(names))
        transaction.on_commit(lambda: after_decision(output.id, notify_owner=False))
    output.refresh_from_db()
    return output


def _delete_files(names: list[str]) -> None:
    storage = storages["outputs"]
    for name in names:
        storage.delete(name)  # a missing file is no error


def output_verify_integrity(*, output: Output) -> bool:
    """True if the file still matches its approval; otherwise void it and requeue the output.

    Asked on every share-page view, so it reads no file: the hash was taken once at finalize and
    checked at approval, and the file is hashed again only if its size or modification time says
    it was written after the approval (a stat on a disk, a HEAD on S3)."""
    if output.state != Output.State.APPROVED:
        return True
    try:
        if (
            _untouched_since_approval(output)
            or file_sha256(output.video_name) == output.approved_sha256
        ):
            return True
    except STORAGE_ERRORS as exc:
        # A missing or unreadable file is nothing to share (the page says the link is no longer
        # available), and no reason to requeue: a reviewer could not look at it either.
        logger.error("Output %s: its stored video cannot be read: %s", output.id, exc)
        return False
    with transaction.atomic():
        voided = Output.objects.filter(id=output.id).transition(
            Output.State.PENDING, approved_sha256="", decided_by=None, decided_at=None
        )
        if voided:
            Approval.objects.filter(output=output).delete()
            audit_record(
                action=audit.APPROVAL_VOIDED,
                actor=None,
                target=output,
                details={"why": "stored file changed after approval"},
            )
            transaction.on_commit(lambda: after_decision(output.id))
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
