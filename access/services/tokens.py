"""Personal API tokens: create (shown once), revoke, record use; and the containment step that
revokes every token of a set of testers."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from access import audit
from access.models import ApiToken, User
from access.roles import can_moderate
from access.selectors import TOKEN_PREFIX, token_digest
from access.services.common import (
    MANAGE_ACCESS_PERMISSION,
    AccessError,
    audit_record,
)

TOKEN_DEFAULT_DAYS = 30
TOKEN_MAX_DAYS = 90
STAFF_SCOPES: dict[str, str] = {
    ApiToken.Scope.REVIEW_WRITE: "staff with two-factor authentication who review outputs",
    ApiToken.Scope.ACCESS_ADMIN: "staff with two-factor authentication who manage access",
}


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def token_create(
    *, user: User, name: str, scopes: Iterable[str], days: int = TOKEN_DEFAULT_DAYS
) -> IssuedToken:
    name, scopes = name.strip(), sorted(set(scopes))
    if not name or len(name) > 80:
        raise AccessError("Give the token a name of 1 to 80 characters.")
    _check_scopes(user, scopes)
    if not 1 <= days <= TOKEN_MAX_DAYS:
        raise AccessError(f"Expiry must be between 1 and {TOKEN_MAX_DAYS} days.")
    if not user.may_act():
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
            action=audit.TOKEN_CREATED,
            actor=user,
            target=token,
            details={"scopes": scopes, "days": days},
        )
    return IssuedToken(token=token, plaintext=f"{TOKEN_PREFIX}{prefix}_{secret}")


def token_scopes_for(user: User) -> set[str]:
    """The scopes `user` may put on a token: every tester scope, and a staff scope only for staff
    with two-factor authentication and the role that scope acts for (a staff token can decide
    outputs or contain testers, so it needs what the staff pages need)."""
    allowed = {scope for scope in ApiToken.Scope.values if scope not in STAFF_SCOPES}
    if user.is_staff and not user.mfa_missing():
        if can_moderate(user):
            allowed.add(ApiToken.Scope.REVIEW_WRITE)
        if user.is_active and user.has_perm(MANAGE_ACCESS_PERMISSION):
            allowed.add(ApiToken.Scope.ACCESS_ADMIN)
    return allowed


def _check_scopes(user: User, scopes: list[str]) -> None:
    allowed = token_scopes_for(user)
    for scope in scopes:
        if scope in STAFF_SCOPES and scope not in allowed:
            raise AccessError(f"The scope {scope} is only for {STAFF_SCOPES[scope]}.")
    if not scopes or not set(scopes) <= allowed:
        unknown = ", ".join(sorted(set(scopes) - allowed)) or "none given"
        raise AccessError(f"Choose scopes from {', '.join(sorted(allowed))} ({unknown}).")


def token_revoke(*, token: ApiToken, by: User) -> ApiToken:
    if token.user_id != by.id and not by.has_perm(MANAGE_ACCESS_PERMISSION):
        raise PermissionDenied("Only the token's owner or an access manager can revoke it.")
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), updated_at=timezone.now()
        )
        token.refresh_from_db()
        if revoked:  # revoking a revoked token changes nothing, so it records nothing
            audit_record(action=audit.TOKEN_REVOKED, actor=by, target=token)
    return token


TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def token_record_use(*, token: ApiToken, ip: str | None) -> None:
    """Note when and from where a token was last used, to the minute: a client calling many
    times a minute from one address costs no write per request."""
    now = timezone.now()
    recent = token.last_used_at is not None and now - token.last_used_at < TOKEN_USE_RESOLUTION
    if recent and token.last_used_ip == ip:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)


def tokens_revoke_for(*, user_ids: list[int]) -> int:
    """Containment step: revoke for good every live token of these users. Returns how many.

    Called inside the containment action's transaction, which writes the one audit entry.
    """
    now = timezone.now()
    return ApiToken.objects.filter(user_id__in=user_ids, revoked_at__isnull=True).update(
        revoked_at=now, updated_at=now
    )
