"""Consent per use: staff ask, the artist grants, declines or withdraws; a use needs a grant.

A use request for training of an output whose job was submitted under a training opt-in is
granted at once by that recorded preference (audited as such); the artist may withdraw it like any
other. Every request, answer and use writes an audit entry in the same transaction.
"""

from __future__ import annotations

import csv
import io

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from access.models import User
from access.roles import can_request_use
from access.services import audit_record
from fairness import audit
from fairness.models import JobTrainingRecord, OutputUse, Purpose, UseRequest
from fairness.selectors import consented_requests
from fairness.services.common import FairnessError, clean_text, notify_artist
from review.models import Output

USE_NOTE_MAX_CHARS = 500
EXPORT_COLUMNS = ["output", "purpose", "credit", "credit_link", "prompt", "model", "consented_at"]


def _require_staff(by: User) -> None:
    if not can_request_use(by):
        raise PermissionDenied("Only staff who manage the program can do this.")


def _require_owner(request: UseRequest, by: User) -> None:
    if request.output.job.owner_id != by.id or not by.may_act():
        raise PermissionDenied("Only the output's artist can answer this request.")


def _granted_by_preference(output: Output, purpose: str) -> bool:
    return (
        purpose == Purpose.TRAINING
        and JobTrainingRecord.objects.filter(job_id=output.job_id, opted_in=True).exists()
    )


def use_request_create(*, output: Output, purpose: str, message: str, by: User) -> UseRequest:
    """Ask the artist for one output and one purpose; they are told live and by email."""
    _require_staff(by)
    if purpose not in Purpose.values:
        raise FairnessError(f"Unknown purpose {purpose!r}.")
    message = clean_text(message, what="A message to the artist")
    if output.state == Output.State.DELETED:
        raise FairnessError("This output was deleted.")
    by_preference = _granted_by_preference(output, purpose)
    now = timezone.now()
    try:
        with transaction.atomic():
            request = UseRequest.objects.create(
                output=output,
                purpose=purpose,
                message=message,
                requested_by=by,
                state=UseRequest.State.GRANTED if by_preference else UseRequest.State.PENDING,
                answered_at=now if by_preference else None,
            )
            audit_record(
                action=audit.USE_REQUESTED,
                actor=by,
                target=output,
                details={"request": request.pk, "purpose": purpose, "message": message},
            )
            if by_preference:
                audit_record(
                    action=audit.USE_GRANTED,
                    actor=None,
                    target=output,
                    details={"request": request.pk, "purpose": purpose, "by_preference": True},
                )
            _tell_artist(request, by_preference)
    except IntegrityError:
        raise FairnessError("This output already has an open request for that purpose.") from None
    return request


def _tell_artist(request: UseRequest, by_preference: bool) -> None:
    purpose = request.get_purpose_display().lower()
    lines = [
        f"The lab asks to use your video \u201c{request.output.job.prompt[:80]}\u201d: {purpose}."
    ]
    lines.append(f"Their message: {request.message}")
    if by_preference:
        lines.append("Your training preference at the time granted it; you can withdraw it.")
    else:
        lines.append("Nothing is used unless you agree.")
    notify_artist(
        user=request.output.job.owner,
        kind="use_request",
        subject="a request to use your work",
        lines=lines,
        path=reverse("artist_home"),
    )


def _answer(
    request: UseRequest, by: User, *, to: str, action: str, **changes: object
) -> UseRequest:
    with transaction.atomic():
        moved = UseRequest.objects.filter(pk=request.pk).transition(to, **changes)
        if not moved:
            request.refresh_from_db()
            raise FairnessError(f"This request is already {request.get_state_display().lower()}.")
        request.refresh_from_db()
        audit_record(
            action=action,
            actor=by,
            target=request.output,
            details={"request": request.pk, "purpose": request.purpose},
        )
    return request


def use_request_answer(*, request: UseRequest, by: User, grant: bool) -> UseRequest:
    _require_owner(request, by)
    if grant:
        to, action = UseRequest.State.GRANTED, audit.USE_GRANTED
    else:
        to, action = UseRequest.State.DECLINED, audit.USE_DECLINED
    return _answer(request, by, to=to, action=action, answered_at=timezone.now())


def use_consent_withdraw(*, request: UseRequest, by: User) -> UseRequest:
    """From now on no use, no export: a use recorded afterwards is refused."""
    _require_owner(request, by)
    return _answer(
        request,
        by,
        to=UseRequest.State.WITHDRAWN,
        action=audit.USE_WITHDRAWN,
        withdrawn_at=timezone.now(),
    )


def _use(request: UseRequest, by: User, note: str) -> OutputUse:
    """Record one use of a request that is granted at this moment (its row locked)."""
    locked = UseRequest.objects.select_for_update().get(pk=request.pk)
    if locked.state != UseRequest.State.GRANTED:
        raise FairnessError(
            f"No consent for this use: the request is {locked.get_state_display().lower()}."
        )
    use = OutputUse.objects.create(request=locked, used_by=by, note=note)
    audit_record(
        action=audit.USE_RECORDED,
        actor=by,
        target=request.output,
        details={"request": locked.pk, "purpose": locked.purpose, "note": note},
    )
    return use


def output_use_record(*, request: UseRequest, by: User, note: str) -> OutputUse:
    """Staff record a use (a post, a press kit, a dataset build): refused without consent."""
    _require_staff(by)
    note = clean_text(note, what="A note on the use", max_chars=USE_NOTE_MAX_CHARS)
    with transaction.atomic():
        return _use(request, by, note)


def _cell(value: object) -> str:
    # A leading =, +, - or @ (or a tab or CR before one) makes spreadsheets evaluate the cell.
    text = str(value or "")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def consented_export(*, purpose: str, by: User) -> str:
    """A CSV of the outputs usable for `purpose` now, each with its credit; every row is a use."""
    _require_staff(by)
    if purpose not in Purpose.values:
        raise FairnessError(f"Unknown purpose {purpose!r}.")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    with transaction.atomic():
        requests = list(consented_requests(purpose=purpose).select_for_update(of=("self",)))
        for request in requests:
            _use(request, by, "export")
            owner = request.output.job.owner
            row = [
                request.output_id,
                purpose,
                owner.credit,
                owner.credit_url,
                request.output.job.prompt,
                request.output.job.model_name,
                request.answered_at.isoformat() if request.answered_at else "",
            ]
            writer.writerow([_cell(value) for value in row])
        audit_record(
            action=audit.USE_EXPORTED,
            actor=by,
            details={"purpose": purpose, "outputs": [str(r.output_id) for r in requests]},
        )
    return out.getvalue()
