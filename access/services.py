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
    Program,
    TermsAcceptance,
    TermsVersion,
    User,
)
from access.roles import ADMINS, TESTERS, role_grant
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


# --- containment: one action, every effect, at once --------------------------------------------


@dataclass(frozen=True)
class Containment:
    """What one containment action ended (recorded in its audit entry)."""

    testers: int
    sessions_ended: int
    queued_jobs_cancelled: int
    running_jobs_stopped: int
    share_links_down: int
    tokens_revoked: int

    def as_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


def _contain(testers, *, reason: str, revoke_tokens: bool) -> Containment:
    """End sessions and jobs of `testers` (a queryset of users whose access just ended).

    API tokens, share links and the studio stop working through `standing_now`, which every door
    checks; a revocation also revokes the tokens for good. Call inside the action's transaction.
    """
    from allauth.usersessions.models import UserSession

    from generation.models import Job
    from review.models import Output, ShareLink

    ids = list(testers.values_list("id", flat=True))
    sessions = list(UserSession.objects.filter(user_id__in=ids))
    for session in sessions:
        session.end()  # deletes the Django session row as well as allauth's record
    now, why = timezone.now(), f"Stopped: the owner's access ended ({reason})."[:1000]
    jobs = Job.objects.filter(owner_id__in=ids)
    queued = jobs.filter(state=Job.State.QUEUED).update(
        state=Job.State.CANCELLED, error=why, finished_at=now, updated_at=now
    )
    running = jobs.filter(state=Job.State.RUNNING).update(
        state=Job.State.CANCELLED, error=why, finished_at=now, updated_at=now
    )
    links = ShareLink.objects.filter(
        created_by_id__in=ids, revoked_at__isnull=True, output__state=Output.State.APPROVED
    ).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))
    tokens = 0
    if revoke_tokens:
        tokens = ApiToken.objects.filter(user_id__in=ids, revoked_at__isnull=True).update(
            revoked_at=now, updated_at=now
        )
    return Containment(
        testers=len(ids),
        sessions_ended=len(sessions),
        queued_jobs_cancelled=queued,
        running_jobs_stopped=running,
        share_links_down=links.count(),
        tokens_revoked=tokens,
    )


def _after_containment(*, groups: list[str], standing: str, reason: str) -> None:
    from generation.progress import publish_access_ended
    from generation.services import jobs_dispatch_all

    publish_access_ended(groups=groups, standing=standing, reason=reason)
    jobs_dispatch_all()  # the slots of stopped jobs go to other testers


def _containment_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise AccessError("A reason is required: it is shown to the people affected and audited.")
    return reason[:500]


def tester_revoke(*, tester: User, by: User | None, reason: str) -> Containment:
    """Revoke one tester for good: sessions, tokens, sockets, jobs and share links, at once."""
    return _tester_contain(
        tester=tester,
        by=by,
        reason=reason,
        to=User.Standing.REVOKED,
        action="access.tester.revoked",
    )


def tester_suspend(*, tester: User, by: User | None, reason: str) -> Containment:
    """Suspend one tester (reversible with `tester_reinstate`); same effects as a revocation,
    except that API tokens come back on reinstatement."""
    return _tester_contain(
        tester=tester,
        by=by,
        reason=reason,
        to=User.Standing.SUSPENDED,
        action="access.tester.suspended",
    )


def _tester_contain(*, tester: User, by: User | None, reason: str, to: str, action: str):
    from generation.progress import user_group

    _require_access_manager(by)
    reason = _containment_reason(reason)
    if tester.is_staff:
        raise AccessError("Staff accounts are managed in the admin, not by standing.")
    with transaction.atomic():
        tester = User.objects.select_for_update().get(pk=tester.pk)
        if tester.standing == User.Standing.REVOKED:
            raise AccessError("A revoked tester cannot be changed; invite them again instead.")
        tester.standing, tester.standing_reason = to, reason
        tester.standing_changed_at = timezone.now()
        tester.save(update_fields=["standing", "standing_reason", "standing_changed_at"])
        report = _contain(
            User.objects.filter(pk=tester.pk),
            reason=reason,
            revoke_tokens=to == User.Standing.REVOKED,
        )
        audit_record(
            action=action,
            actor=by,
            target=tester,
            details={"scope": "tester", "reason": reason, **report.as_dict()},
        )
        transaction.on_commit(
            lambda: _after_containment(groups=[user_group(tester.pk)], standing=to, reason=reason)
        )
    return report


def tester_reinstate(*, tester: User, by: User | None, reason: str = "") -> User:
    """Lift a suspension. Ended sessions stay ended: the tester signs in again."""
    _require_access_manager(by)
    if tester.is_staff:
        raise AccessError("Staff accounts are managed in the admin, not by standing.")
    with transaction.atomic():
        tester = User.objects.select_for_update().get(pk=tester.pk)
        if tester.standing == User.Standing.REVOKED:
            raise AccessError("A revoked tester cannot be changed; invite them again instead.")
        if tester.standing != User.Standing.SUSPENDED:
            raise AccessError("This tester is not suspended.")
        tester.standing, tester.standing_reason = User.Standing.ACTIVE, reason.strip()[:500]
        tester.standing_changed_at = timezone.now()
        tester.save(update_fields=["standing", "standing_reason", "standing_changed_at"])
        audit_record(
            action="access.tester.reinstated",
            actor=by,
            target=tester,
            details={"scope": "tester", "reason": reason},
        )
    return tester


def cohort_suspend(*, cohort: Cohort, by: User | None, reason: str) -> Containment:
    from generation.progress import cohort_group

    _require_access_manager(by)
    reason = _containment_reason(reason)
    with transaction.atomic():
        cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
        if cohort.suspended_at is not None:
            raise AccessError(f"{cohort.name} is already suspended.")
        cohort.suspended_at, cohort.suspension_reason = timezone.now(), reason
        cohort.save(update_fields=["suspended_at", "suspension_reason", "updated_at"])
        report = _contain(
            User.objects.filter(cohort=cohort, is_staff=False), reason=reason, revoke_tokens=False
        )
        audit_record(
            action="access.cohort.suspended",
            actor=by,
            target=cohort,
            details={"scope": "cohort", "reason": reason, **report.as_dict()},
        )
        transaction.on_commit(
            lambda: _after_containment(
                groups=[cohort_group(cohort.pk)],
                standing=User.Standing.SUSPENDED,
                reason=reason,
            )
        )
    return report


def cohort_reinstate(*, cohort: Cohort, by: User | None) -> Cohort:
    _require_access_manager(by)
    with transaction.atomic():
        cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
        if cohort.suspended_at is None:
            raise AccessError(f"{cohort.name} is not suspended.")
        cohort.suspended_at, cohort.suspension_reason = None, ""
        cohort.save(update_fields=["suspended_at", "suspension_reason", "updated_at"])
        audit_record(
            action="access.cohort.reinstated", actor=by, target=cohort, details={"scope": "cohort"}
        )
    return cohort


def program_pause(*, by: User | None, reason: str) -> Containment:
    """The kill switch: every non-staff tester is out at once; staff keep working."""
    from generation.progress import PROGRAM_GROUP

    _require_access_manager(by)
    reason = _containment_reason(reason)
    with transaction.atomic():
        program = Program.objects.select_for_update().get(pk=Program.current().pk)
        if program.paused_at is not None:
            raise AccessError("The program is already paused.")
        program.paused_at, program.pause_reason = timezone.now(), reason
        program.save(update_fields=["paused_at", "pause_reason", "updated_at"])
        report = _contain(User.objects.filter(is_staff=False), reason=reason, revoke_tokens=False)
        audit_record(
            action="access.program.paused",
            actor=by,
            target=program,
            details={"scope": "program", "reason": reason, **report.as_dict()},
        )
        transaction.on_commit(
            lambda: _after_containment(
                groups=[PROGRAM_GROUP], standing=User.Standing.PAUSED, reason=reason
            )
        )
    return report


def program_resume(*, by: User | None) -> Program:
    """Testers sign in again; share links that were valid before the pause resolve again."""
    _require_access_manager(by)
    with transaction.atomic():
        program = Program.objects.select_for_update().get(pk=Program.current().pk)
        if program.paused_at is None:
            raise AccessError("The program is not paused.")
        program.paused_at, program.pause_reason = None, ""
        program.save(update_fields=["paused_at", "pause_reason", "updated_at"])
        audit_record(
            action="access.program.resumed", actor=by, target=program, details={"scope": "program"}
        )
    return program


# --- token-sharing detection ---------------------------------------------------------------------


def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def token_observe_use(*, token: ApiToken, ip: str | None, user_agent: str) -> bool:
    """Count distinct networks and clients per token over a sliding window; suspend a token
    that looks like a public front-end. Returns False when the token was just suspended."""
    window = settings.TOKEN_SHARING_WINDOW_SECONDS
    now = timezone.now().timestamp()
    counts = []
    pipe = _redis().pipeline()
    for kind, value in (("ip", ip or "?"), ("ua", (user_agent or "?")[:200])):
        key = f"{settings.CACHES['default']['KEY_PREFIX']}:token-use:{token.pk}:{kind}"
        pipe.zadd(key, {value: now})
        pipe.zremrangebyscore(key, 0, now - window)
        pipe.zcard(key)
        pipe.expire(key, window)
    results = pipe.execute()
    counts = {"networks": results[2], "clients": results[6]}
    if (
        counts["networks"] > settings.TOKEN_SHARING_MAX_NETWORKS
        or counts["clients"] > settings.TOKEN_SHARING_MAX_CLIENTS
    ):
        token_suspend_for_sharing(token=token, counts=counts)
        return False
    return True


def token_suspend_for_sharing(*, token: ApiToken, counts: dict[str, int]) -> None:
    minutes = settings.TOKEN_SHARING_WINDOW_SECONDS // 60
    reason = (
        f"Used from {counts['networks']} networks and {counts['clients']} clients within "
        f"{minutes} minutes: this looks like shared access."
    )
    with transaction.atomic():
        suspended = ApiToken.objects.filter(pk=token.pk, suspended_at__isnull=True).update(
            suspended_at=timezone.now(), suspension_reason=reason, updated_at=timezone.now()
        )
        if not suspended:
            return
        audit_record(
            action="access.token.suspended_sharing",
            actor=None,
            target=token,
            details={"owner": token.user.email, **counts},
        )
        transaction.on_commit(lambda: _notify_token_suspended(token, reason))


def _notify_token_suspended(token: ApiToken, reason: str) -> None:
    staff = list(
        User.objects.filter(groups__name=ADMINS, is_active=True).values_list("email", flat=True)
    )
    subject = f"Vernissage: API token {token.name!r} suspended"
    send_mail(
        subject,
        f"Your token vern_{token.prefix}_… was suspended. {reason}",
        None,
        [token.user.email],
    )
    if staff:
        send_mail(subject, f"Token of {token.user.email} suspended. {reason}", None, staff)
