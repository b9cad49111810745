"""Invitations: create (one or in bulk), resend, revoke, accept. Codes are stored as digests."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from access import audit
from access.models import Cohort, Invitation, User
from access.roles import TESTERS, role_grant
from access.selectors import invitation_code_digest
from access.services.common import AccessError, audit_record, require_access_manager


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    code: str

    @property
    def url(self) -> str:
        return settings.SITE_URL + reverse("invitation_open", kwargs={"code": self.code})


STATUS_MESSAGES: dict[str, str] = {
    Invitation.Status.ACCEPTED: "This invitation has already been used. Sign in instead.",
    Invitation.Status.REVOKED: "This invitation was withdrawn by the Vernissage team.",
    Invitation.Status.EXPIRED: "This invitation has expired. Ask the team for a new one.",
}


def _clean_invitee(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise AccessError(f"{email!r} is not a valid email address.") from None
    if User.objects.filter(email__iexact=email).exists():
        raise AccessError(f"{email} already has an account.")
    if Invitation.objects.filter(
        email=email, state=Invitation.State.PENDING, expires_at__gt=timezone.now()
    ).exists():
        raise AccessError(f"{email} already has a pending invitation (resend or revoke it).")
    return email


def invitation_create(
    *,
    email: str,
    invited_by: User | None,
    cohort: Cohort | None = None,
    name: str = "",
    ttl: timedelta | None = None,
    send: bool = True,
    ip: str | None = None,
) -> IssuedInvitation:
    require_access_manager(invited_by)
    email = _clean_invitee(email)
    code = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            email=email,
            name=name.strip()[:80],
            cohort=cohort,
            code_digest=invitation_code_digest(code),
            invited_by=invited_by,
            expires_at=timezone.now() + (ttl or timedelta(days=settings.INVITATION_TTL_DAYS)),
        )
        issued = IssuedInvitation(invitation=invitation, code=code)
        audit_record(
            action=audit.INVITATION_CREATED,
            actor=invited_by,
            target=invitation,
            details={"email": email, "cohort": cohort.name if cohort else None},
            ip=ip,
        )
        if send:
            _send_invitation_on_commit(issued)
    return issued


def _send_invitation_on_commit(issued: IssuedInvitation) -> None:
    Invitation.objects.filter(pk=issued.invitation.pk).update(
        sent_count=models.F("sent_count") + 1, last_sent_at=timezone.now()
    )
    invitation = issued.invitation
    body = (
        f"Hello{' ' + invitation.name if invitation.name else ''},\n\n"
        "You are invited to the closed alpha of Vernissage. This link is for you alone and works "
        f"once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC:\n\n{issued.url}\n"
    )
    transaction.on_commit(
        lambda: send_mail("Your Vernissage invitation", body, None, [invitation.email])
    )


@dataclass(frozen=True)
class BulkResult:
    issued: list[IssuedInvitation]
    errors: list[str]  # "line N: what is wrong"
    failed_lines: list[str] = field(default_factory=list)  # as given, to correct and send again


def _as_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def invitation_bulk_create(
    *, text: str, invited_by: User | None, default_cohort: Cohort | None = None
) -> BulkResult:
    """Invite from CSV or pasted lines: `email[,cohort[,name]]`. Bad lines are reported, not fatal.

    A header line starting with "email" is skipped.
    """
    issued, errors, failed = [], [], []
    cohorts = {c.name.lower(): c for c in Cohort.objects.all()}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or (number == 1 and cells[0].lower() == "email"):
            continue
        try:
            issued.append(_bulk_line(cells, cohorts, default_cohort, invited_by))
        except AccessError as exc:
            errors.append(f"line {number}: {exc}")
            failed.append(_as_line(cells))
    return BulkResult(issued=issued, errors=errors, failed_lines=failed)


def _bulk_line(
    cells: list[str],
    cohorts: dict[str, Cohort],
    default_cohort: Cohort | None,
    invited_by: User | None,
) -> IssuedInvitation:
    cohort = default_cohort
    if len(cells) > 1 and cells[1]:
        cohort = cohorts.get(cells[1].lower())
        if cohort is None:
            raise AccessError(f"unknown cohort {cells[1]!r}")
    if cohort is None:
        # A tester outside any cohort may use no model at all: never invite one by accident.
        raise AccessError("no cohort (name one on the line or choose a default)")
    name = cells[2] if len(cells) > 2 else ""
    return invitation_create(email=cells[0], invited_by=invited_by, cohort=cohort, name=name)


def invitation_resend(*, invitation: Invitation, by: User | None) -> IssuedInvitation:
    """A new code (the old link stops working) and a fresh expiry, sent again."""
    require_access_manager(by)
    code = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.state != Invitation.State.PENDING:
            raise AccessError(f"This invitation is {invitation.status}; it cannot be resent.")
        invitation.code_digest = invitation_code_digest(code)
        invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)
        invitation.save(update_fields=["code_digest", "expires_at", "updated_at"])
        issued = IssuedInvitation(invitation=invitation, code=code)
        audit_record(action=audit.INVITATION_RESENT, actor=by, target=invitation)
        _send_invitation_on_commit(issued)
    return issued


def invitation_revoke(*, invitation: Invitation, by: User | None) -> Invitation:
    require_access_manager(by)
    with transaction.atomic():
        revoked = Invitation.objects.filter(
            pk=invitation.pk, state=Invitation.State.PENDING
        ).update(state=Invitation.State.REVOKED, updated_at=timezone.now())
        invitation.refresh_from_db()
        if not revoked:
            raise AccessError(f"This invitation is {invitation.status}; it cannot be revoked.")
        audit_record(action=audit.INVITATION_REVOKED, actor=by, target=invitation)
    return invitation


def invitation_check_usable(invitation: Invitation) -> None:
    message = STATUS_MESSAGES.get(invitation.status)
    if message:
        raise AccessError(message)


@transaction.atomic
def invitation_accept(*, invitation_id: int, user: User, ip: str | None = None) -> Invitation:
    """Bind a pending invitation to the account created from it and make the account a tester.

    Called inside the signup transaction: the row lock makes a second, concurrent signup with the
    same link fail here and roll back its user.
    """
    invitation = Invitation.objects.select_for_update().get(pk=invitation_id)
    invitation_check_usable(invitation)
    if user.email.lower() != invitation.email:
        raise AccessError("The account email does not match the invitation.")
    invitation.state = Invitation.State.ACCEPTED
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["state", "accepted_by", "accepted_at", "updated_at"])
    user.cohort = invitation.cohort
    if not user.display_name and invitation.name:
        user.display_name = invitation.name
    user.save(update_fields=["cohort", "display_name"])
    role_grant(user=user, role=TESTERS)
    audit_record(action=audit.INVITATION_ACCEPTED, actor=user, target=invitation, ip=ip)
    return invitation
