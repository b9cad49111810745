"""Every state change of the access app: invitations, testers, terms, tokens, and the audit log.

Each function checks permission, changes state in one transaction, writes its audit entry in the
same transaction, and schedules side effects (email) with `transaction.on_commit`.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from access.models import (
    ApiToken,
    AuditEntry,
    Cohort,
    Invitation,
    TermsAcceptance,
    TermsVersion,
    User,
)
from access.roles import TESTERS, role_grant
from access.selectors import invitation_code_digest

MANAGE_ACCESS_PERMISSION = "access.change_invitation"


class AccessError(Exception):
    """An access action that cannot happen; the message says why, for the person who asked."""


# --- audit -----------------------------------------------------------------------------------


def audit_record(
    *,
    action: str,
    actor: User | None,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry. Call it inside the transaction of the change it records."""
    return AuditEntry.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor.email if actor is not None else "",
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:254] if target is not None else "",
        details=details or {},
        ip=ip,
    )


def _require_access_manager(actor: User | None) -> None:
    """None means the system itself (management commands run by an operator)."""
    if actor is not None and not (actor.is_active and actor.has_perm(MANAGE_ACCESS_PERMISSION)):
        raise PermissionDenied("Only access managers can do this.")


# --- invitations -----------------------------------------------------------------------------


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
    _require_access_manager(invited_by)
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
            action="access.invitation.created",
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


def invitation_bulk_create(
    *, text: str, invited_by: User | None, default_cohort: Cohort | None = None
) -> BulkResult:
    """Invite from CSV or pasted lines: `email[,cohort[,name]]`. Bad lines are reported, not fatal.

    A header line starting with "email" is skipped.
    """
    issued, errors = [], []
    cohorts = {c.name.lower(): c for c in Cohort.objects.all()}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or (number == 1 and cells[0].lower() == "email"):
            continue
        cohort = default_cohort
        if len(cells) > 1 and cells[1]:
            cohort = cohorts.get(cells[1].lower())
            if cohort is None:
                errors.append(f"line {number}: unknown cohort {cells[1]!r}")
                continue
        if cohort is None:
            # A tester outside any cohort may use no model at all: never invite one by accident.
            errors.append(f"line {number}: no cohort (name one on the line or choose a default)")
            continue
        try:
            issued.append(
                invitation_create(
                    email=cells[0],
                    invited_by=invited_by,
                    cohort=cohort,
                    name=cells[2] if len(cells) > 2 else "",
                )
            )
        except AccessError as exc:
            errors.append(f"line {number}: {exc}")
    return BulkResult(issued=issued, errors=errors)


def invitation_resend(*, invitation: Invitation, by: User | None) -> IssuedInvitation:
    """A new code (the old link stops working) and a fresh expiry, sent again."""
    _require_access_manager(by)
    code = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.state != Invitation.State.PENDING:
            raise AccessError(f"This invitation is {invitation.status}; it cannot be resent.")
        invitation.code_digest = invitation_code_digest(code)
        invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)
        invitation.save(update_fields=["code_digest", "expires_at", "updated_at"])
        issued = IssuedInvitation(invitation=invitation, code=code)
        audit_record(action="access.invitation.resent", actor=by, target=invitation)
        _send_invitation_on_commit(issued)
    return issued


def invitation_revoke(*, invitation: Invitation, by: User | None) -> Invitation:
    _require_access_manager(by)
    with transaction.atomic():
        revoked = Invitation.objects.filter(
            pk=invitation.pk, state=Invitation.State.PENDING
        ).update(state=Invitation.State.REVOKED, updated_at=timezone.now())
        invitation.refresh_from_db()
        if not revoked:
            raise AccessError(f"This invitation is {invitation.status}; it cannot be revoked.")
        audit_record(action="access.invitation.revoked", actor=by, target=invitation)
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
    audit_record(action="access.invitation.accepted", actor=user, target=invitation, ip=ip)
    return invitation


# --- tester standing -------------------------------------------------------------------------


def _change_standing(*, tester: User, by: User | None, to: str, reason: str, action: str) -> User:
    _require_access_manager(by)
    if tester.is_staff:
        raise AccessError("Staff accounts are managed in the admin, not by standing.")
    with transaction.atomic():
        tester = User.objects.select_for_update().get(pk=tester.pk)
        if tester.standing == User.Standing.REVOKED:
            raise AccessError("A revoked tester cannot be changed; invite them again instead.")
        tester.standing, tester.standing_reason = to, reason.strip()[:500]
        tester.standing_changed_at = timezone.now()
        tester.save(update_fields=["standing", "standing_reason", "standing_changed_at"])
        audit_record(action=action, actor=by, target=tester, details={"reason": reason})
    return tester


def tester_suspend(*, tester: User, by: User | None, reason: str) -> User:
    if not reason.strip():
        raise AccessError("A reason is required to suspend a tester.")
    return _change_standing(
        tester=tester,
        by=by,
        to=User.Standing.SUSPENDED,
        reason=reason,
        action="access.tester.suspended",
    )


def tester_reinstate(*, tester: User, by: User | None, reason: str = "") -> User:
    return _change_standing(
        tester=tester,
        by=by,
        to=User.Standing.ACTIVE,
        reason=reason,
        action="access.tester.reinstated",
    )


# --- terms -----------------------------------------------------------------------------------


def terms_publish(*, title: str, body: str, by: User | None) -> TermsVersion:
    """Publish a new version; every tester is asked to accept it before using the studio again."""
    _require_access_manager(by)
    if not title.strip() or not body.strip():
        raise AccessError("Terms need a title and a body.")
    with transaction.atomic():
        latest = TermsVersion.objects.select_for_update().order_by("-version").first()
        terms = TermsVersion.objects.create(
            version=(latest.version + 1) if latest else 1,
            title=title.strip(),
            body=body.strip(),
            published_at=timezone.now(),
            created_by=by,
        )
        audit_record(
            action="access.terms.published",
            actor=by,
            target=terms,
            details={"version": terms.version},
        )
    return terms


def terms_accept(*, user: User, terms: TermsVersion, ip: str | None = None) -> TermsAcceptance:
    from access.selectors import terms_current

    current = terms_current()
    if current is None or terms.pk != current.pk:
        raise AccessError("These are not the current terms; reload the page.")
    with transaction.atomic():
        acceptance, created = TermsAcceptance.objects.get_or_create(
            user=user, terms=terms, defaults={"ip": ip}
        )
        if created:
            audit_record(
                action="access.terms.accepted",
                actor=user,
                target=terms,
                details={"version": terms.version},
                ip=ip,
            )
    return acceptance


# --- API tokens ------------------------------------------------------------------------------

TOKEN_PREFIX = "vern_"  # noqa: S105 (a public marker for secret scanners, not a secret)
TOKEN_DEFAULT_DAYS = 30
TOKEN_MAX_DAYS = 90


def token_digest(secret: str) -> str:
    key = settings.API_TOKEN_PEPPER.encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def token_create(
    *, user: User, name: str, scopes: Iterable[str], days: int = TOKEN_DEFAULT_DAYS
) -> IssuedToken:
    name, scopes = name.strip(), sorted(set(scopes))
    valid_scopes = set(ApiToken.Scope.values)
    if not name or len(name) > 80:
        raise AccessError("Give the token a name of 1 to 80 characters.")
    if not scopes or not set(scopes) <= valid_scopes:
        unknown = ", ".join(sorted(set(scopes) - valid_scopes)) or "none given"
        raise AccessError(f"Choose scopes from {', '.join(sorted(valid_scopes))} ({unknown}).")
    if not 1 <= days <= TOKEN_MAX_DAYS:
        raise AccessError(f"Expiry must be between 1 and {TOKEN_MAX_DAYS} days.")
    if not user.is_active or user.standing_now != User.Standing.ACTIVE:
        raise PermissionDenied("This account cannot create tokens.")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            digest=token_digest(secret),
            scopes=scopes,
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit_record(
            action="access.token.created",
            actor=user,
            target=token,
            details={"scopes": scopes, "days": days},
        )
    return IssuedToken(token=token, plaintext=f"{TOKEN_PREFIX}{prefix}_{secret}")


def token_revoke(*, token: ApiToken, by: User) -> ApiToken:
    if token.user_id != by.id and not by.has_perm(MANAGE_ACCESS_PERMISSION):
        raise PermissionDenied("Only the token's owner or an access manager can revoke it.")
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), updated_at=timezone.now()
        )
        token.refresh_from_db()
        if revoked:  # revoking a revoked token changes nothing, so it records nothing
            audit_record(action="access.token.revoked", actor=by, target=token)
    return token


def token_record_use(*, token: ApiToken, ip: str | None) -> None:
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now(), last_used_ip=ip)


# --- sessions --------------------------------------------------------------------------------


def sessions_end(*, user: User, by: User, ip: str | None = None) -> int:
    """End every session of `user` (rows deleted, not flagged). Returns how many were ended."""
    from allauth.usersessions.models import UserSession

    if by.pk != user.pk and not by.has_perm(MANAGE_ACCESS_PERMISSION):
        raise PermissionDenied("Only access managers can end another user's sessions.")
    with transaction.atomic():
        sessions = list(UserSession.objects.filter(user=user))
        for session in sessions:
            session.end()
        audit_record(
            action="access.sessions.ended",
            actor=by,
            target=user,
            details={"count": len(sessions)},
            ip=ip,
        )
    return len(sessions)
