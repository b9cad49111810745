"""Every state change of the access app: invitations and the accounts they create."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from access.models import Invitation, User
from access.selectors import invitation_code_digest


class InvitationError(Exception):
    """An invitation cannot be used; the message is shown to the visitor as is."""


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    code: str

    @property
    def url(self) -> str:
        return settings.SITE_URL + reverse("invitation_open", kwargs={"code": self.code})


STATUS_MESSAGES = {
    Invitation.Status.ACCEPTED: "This invitation has already been used. Sign in instead.",
    Invitation.Status.REVOKED: "This invitation was withdrawn by the Vernissage team.",
    Invitation.Status.EXPIRED: "This invitation has expired. Ask the team for a new one.",
}


def invitation_create(
    *, email: str, invited_by: User | None, ttl: timedelta | None = None
) -> IssuedInvitation:
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvitationError(f"{email!r} is not a valid email address.") from None
    if User.objects.filter(email__iexact=email).exists():
        raise InvitationError(f"{email} already has an account.")
    code = secrets.token_urlsafe(32)
    ttl = ttl or timedelta(days=settings.INVITATION_TTL_DAYS)
    invitation = Invitation.objects.create(
        email=email,
        code_digest=invitation_code_digest(code),
        invited_by=invited_by,
        expires_at=timezone.now() + ttl,
    )
    return IssuedInvitation(invitation=invitation, code=code)


def invitation_check_usable(invitation: Invitation) -> None:
    message = STATUS_MESSAGES.get(invitation.status)
    if message:
        raise InvitationError(message)


@transaction.atomic
def invitation_accept(*, invitation_id: int, user: User) -> Invitation:
    """Bind a pending invitation to the account created from it.

    Called inside the signup transaction: the row lock makes a second, concurrent signup with the
    same link fail here and roll back its user.
    """
    invitation = Invitation.objects.select_for_update().get(pk=invitation_id)
    invitation_check_usable(invitation)
    if user.email.lower() != invitation.email:
        raise InvitationError("The account email does not match the invitation.")
    invitation.state = Invitation.State.ACCEPTED
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["state", "accepted_by", "accepted_at", "updated_at"])
    return invitation
