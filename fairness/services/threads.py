"""Feedback that answers: staff reply to feedback and findings in a thread and move each item
through its statuses; its author is told of every reply and change, live and by email."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse

from access.models import User
from access.roles import can_moderate
from access.services import audit_record
from fairness import audit
from fairness.models import Thread, ThreadMessage
from fairness.services.common import FairnessError, clean_text, notify_artist
from review.models import Feedback, Finding

Item = Feedback | Finding
MODEL_VERSION_MAX_CHARS = 80


def item_author_id(item: Item) -> int:
    return item.author_id if isinstance(item, Feedback) else item.reporter_id


def _thread_of(item: Item) -> Thread:
    key = {"feedback": item} if isinstance(item, Feedback) else {"finding": item}
    thread, _ = Thread.objects.get_or_create(**key, defaults={"author_id": item_author_id(item)})
    return thread


def _describe(item: Item) -> str:
    if isinstance(item, Feedback):
        return f"your feedback ({item.rating}/5) on \u201c{item.output.job.prompt[:60]}\u201d"
    return f"your finding ({item.get_category_display().lower()})"


def thread_reply(*, item: Item, by: User, body: str) -> ThreadMessage:
    """The item's author or staff write in its thread; a staff reply reaches the author."""
    author_id = item_author_id(item)
    if not (can_moderate(by) or (by.id == author_id and by.may_act())):
        raise PermissionDenied("Only the author and staff write in this thread.")
    body = clean_text(body, what="A message")
    with transaction.atomic():
        thread = _thread_of(item)
        message = ThreadMessage.objects.create(thread=thread, author=by, body=body)
        audit_record(
            action=audit.THREAD_REPLIED,
            actor=by,
            target=thread,
            details={"message": message.pk},
        )
        if by.id != author_id:
            notify_artist(
                user=User.objects.get(pk=author_id),
                kind="thread",
                subject="the lab answered your feedback",
                lines=[f"The lab replied to {_describe(item)}:", body],
                path=reverse("threads"),
            )
    return message


def thread_move(*, item: Item, by: User, to: str, note: str, model_version: str = "") -> Thread:
    """Staff change an item's status, with a note its author reads (a version when addressed)."""
    if not can_moderate(by):
        raise PermissionDenied("Only staff change a feedback status.")
    note = clean_text(note, what="A note for the author")
    model_version = (model_version or "").strip()
    if to == Thread.State.ADDRESSED and not model_version:
        raise FairnessError("Name the model version that addresses it.")
    if len(model_version) > MODEL_VERSION_MAX_CHARS:
        raise FairnessError(
            f"The model version is limited to {MODEL_VERSION_MAX_CHARS} characters."
        )
    with transaction.atomic():
        thread = _thread_of(item)
        moved = Thread.objects.filter(pk=thread.pk).transition(
            to, status_note=note, model_version=model_version
        )
        thread.refresh_from_db()
        if not moved:
            raise FairnessError(
                f"A thread that is {thread.get_state_display().lower()} cannot become {to}."
            )
        audit_record(
            action=audit.THREAD_MOVED,
            actor=by,
            target=thread,
            details={"to": to, "note": note, "model_version": model_version},
        )
        status = thread.get_state_display()
        if model_version:
            status += f" ({model_version})"
        notify_artist(
            user=User.objects.get(pk=item_author_id(item)),
            kind="thread",
            subject="news about your feedback",
            lines=[f"The status of {_describe(item)} is now: {status}.", note],
            path=reverse("threads"),
        )
    return thread
