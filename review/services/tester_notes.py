"""Reviewers' private notes on testers: one per tester, shown beside their items in the queue."""

from __future__ import annotations

from django.db import transaction

from access.models import User
from access.roles import TESTERS, can_submit
from access.services import audit_record
from review import audit
from review.models import TesterNote
from review.services.common import ReviewError, clean_note, require_moderator


def may_have_note(user: User) -> bool:
    """Notes are kept on testers only: users who may submit jobs (or are in the Testers group),
    never on staff (an admin, a reviewer, the note's own author)."""
    if user.is_staff:
        return False
    return can_submit(user) or user.groups.filter(name=TESTERS).exists()


def tester_note_set(*, tester: User, by: User, body: str) -> TesterNote:
    """Replace the reviewers' note on `tester` (an empty body clears it); audited, with the text."""
    require_moderator(by)
    if not may_have_note(tester):
        raise ReviewError("Notes are kept on testers only.")
    body = clean_note(body, required=False, what="")
    with transaction.atomic():
        note, _created = TesterNote.objects.select_for_update().get_or_create(tester=tester)
        previous = note.body
        note.body, note.updated_by = body, by
        note.save()
        audit_record(
            action=audit.TESTER_NOTE_SET,
            actor=by,
            target=tester,
            details={"tester": tester.pk, "before": previous, "after": body},
        )
    return note
