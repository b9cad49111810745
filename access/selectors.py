from __future__ import annotations

import hashlib
import hmac

from allauth.account.adapter import get_adapter
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from access.models import (
    ApiToken,
    AuditEntry,
    Invitation,
    Program,
    TermsAcceptance,
    TermsVersion,
    User,
)
from access.prepared import PreparedQuery

SESSION_INVITATION_KEY = "vernissage_invitation_code"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, honouring ALLAUTH_TRUSTED_PROXY_COUNT (the docker proxy sets 1)."""
    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:
        return None


# --- standing ----------------------------------------------------------------------------------


def users_for_standing_check(*, ids: set[int]) -> dict[int, User]:
    """Many users, ready for `User.may_act` without another query: one query for the users, their
    cohorts and the program's kill switch (every live socket's safety-net re-check reads these)."""
    found = (
        User.objects.select_related("cohort")
        .annotate(program_paused=Program.paused_exists())
        .filter(id__in=ids)
    )
    users: dict[int, User] = {user.id: user for user in found}
    for user in users.values():  # what `standing_now` would read for each
        user._program_paused = user.program_paused  # type: ignore[attr-defined]
    return users


# --- invitations -----------------------------------------------------------------------------


def invitation_code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def invitation_get_by_code(*, code: str) -> Invitation | None:
    if not code or len(code) > 200:
        return None
    return Invitation.objects.filter(code_digest=invitation_code_digest(code)).first()


def invitation_from_session(request: HttpRequest) -> Invitation | None:
    """The invitation the visitor opened in this browser session, if it is still usable."""
    invitation = invitation_get_by_code(code=request.session.get(SESSION_INVITATION_KEY, ""))
    if invitation is None or invitation.status != Invitation.Status.PENDING:
        return None
    return invitation


def invitations_list() -> QuerySet[Invitation]:
    return Invitation.objects.select_related("cohort", "invited_by", "accepted_by")


# --- terms -----------------------------------------------------------------------------------


def terms_current() -> TermsVersion | None:
    return TermsVersion.objects.filter(published_at__isnull=False).order_by("-version").first()


_CURRENT_TERMS_ACCEPTED = PreparedQuery(
    lambda user_id: (
        TermsVersion.objects.filter(published_at__isnull=False)
        .order_by("-version")
        .annotate(
            accepted=Exists(TermsAcceptance.objects.filter(user_id=user_id, terms=OuterRef("pk")))
        )
        .values_list("version", "accepted")[:1]
    ),
    user_id=int,
)


def terms_accepted_version(user: User) -> int | None:
    """The version of the current terms `user` accepted, or None if they have not (yet).

    One query (the current version and whether `user` accepted it), compiled once: every page and
    submission asks.
    """
    current = next(iter(_CURRENT_TERMS_ACCEPTED.rows(user_id=user.pk)), None)
    if current is None:
        return 0  # no terms published: nothing to accept
    version, accepted = current
    return version if accepted else None


# --- tokens ----------------------------------------------------------------------------------


TOKEN_PREFIX = "vern_"  # noqa: S105 (a public marker for secret scanners, not a secret)


def token_digest(secret: str) -> str:
    key = settings.API_TOKEN_PEPPER.encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


_TOKEN_BY_PREFIX = PreparedQuery(
    lambda prefix: (
        ApiToken.objects.select_related("user", "user__cohort")
        .annotate(program_paused=Program.paused_exists())
        .filter(prefix=prefix)
        .order_by()[:1]  # the prefix is unique
    ),
    prefix=str,
)


def token_lookup(plaintext: str) -> ApiToken | None:
    """The token `vern_<prefix>_<secret>` names, if its secret matches (constant-time compare).
    Every API request comes through here: the query is compiled once (`PreparedQuery`)."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    prefix, _, secret = plaintext[len(TOKEN_PREFIX) :].partition("_")
    token = next(iter(_TOKEN_BY_PREFIX.objects(prefix=prefix)), None)
    if token is None or not hmac.compare_digest(token.digest, token_digest(secret)):
        return None
    # The kill switch read in the same query: the user's standing_now needs no query of its own.
    token.user._program_paused = token.program_paused
    return token


def tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


# --- audit -----------------------------------------------------------------------------------


def audit_entries(*, action: str = "", actor: str = "", target: str = "") -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if action:
        entries = entries.filter(action__startswith=action)
    if actor:
        entries = entries.filter(actor_label__icontains=actor)
    if target:
        entries = entries.filter(Q(target_id=target) | Q(target_label__icontains=target))
    return entries


def suspicious_tokens() -> QuerySet[ApiToken]:
    return (
        ApiToken.objects.filter(suspended_at__isnull=False)
        .select_related("user")
        .order_by("-suspended_at")
    )


# --- counts for the staff pages (read-only) ----------------------------------------------------


def sessions_count_for(*, user_ids: list[int]) -> int:
    """How many sessions `sessions_end_for(user_ids=...)` would end."""
    return UserSession.objects.filter(user_id__in=user_ids).count()


def live_tokens_count_for(*, user_ids: list[int]) -> int:
    """How many tokens `tokens_revoke_for(user_ids=...)` would revoke."""
    return ApiToken.objects.filter(user_id__in=user_ids, revoked_at__isnull=True).count()


def standing_prefetch(users: list[User]) -> list[User]:
    """Ready these users for `standing_now` with one query for the program, not one each."""
    paused = Program.is_paused()
    for user in users:
        user._program_paused = paused
    return users


def testers_search(*, query: str = "", standing: str = "") -> QuerySet[User]:
    """The testers page: non-staff users matching `query` (email, name or cohort) and `standing`
    (as stored: active, suspended or revoked)."""
    testers = User.objects.filter(is_staff=False).select_related("cohort").order_by("email")
    if query:
        testers = testers.filter(
            Q(email__icontains=query)
            | Q(display_name__icontains=query)
            | Q(cohort__name__icontains=query)
        )
    if standing:
        testers = testers.filter(standing=standing)
    return testers
