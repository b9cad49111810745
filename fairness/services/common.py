"""What every fairness service shares: its error type, note cleaning and telling the artist."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from access.models import User
from realtime import groups
from realtime.events import ArtistNoticeEvent
from realtime.publisher import publish

NOTE_MAX_CHARS = 2000


class FairnessError(Exception):
    """A consent, credit or appeal action that cannot happen; the message says why."""


def clean_text(text: str, *, what: str, max_chars: int = NOTE_MAX_CHARS) -> str:
    text = (text or "").strip()
    if not text:
        raise FairnessError(f"{what} is required.")
    if len(text) > max_chars:
        raise FairnessError(f"{what} is limited to {max_chars} characters.")
    return text


def notify_artist(*, user: User, kind: str, subject: str, lines: list[str], path: str) -> None:
    """After commit: a live notice on the artist's page and an email (never for a rollback)."""
    url = f"{settings.SITE_URL}{path}"

    def send() -> None:
        text = " ".join(lines)
        publish(
            ArtistNoticeEvent(user_id=user.id, kind=kind, text=text, url=path),
            groups=[groups.artist_group(user.id)],
        )
        send_mail(f"Vernissage: {subject}", "\n".join([*lines, url]), None, [user.email])

    transaction.on_commit(send)
