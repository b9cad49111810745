from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.db.models import Q, QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone

from access.models import ApiToken, AuditEntry, Invitation, TermsAcceptance, TermsVersion, User

SESSION_INVITATION_KEY = "vernissage_invitation_code"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, honouring ALLAUTH_TRUSTED_PROXY_COUNT (the docker proxy sets 1)."""
    from allauth.account.adapter import get_adapter
    from django.core.exceptions import PermissionDenied

    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:
        return None


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


def terms_accepted_version(user: User) -> int | None:
    """The version of the current terms `user` accepted, or None if they have not (yet)."""
    current = terms_current()
    if current is None:
        return 0  # no terms published: nothing to accept
    accepted = TermsAcceptance.objects.filter(user=user, terms=current).exists()
    return current.version if accepted else None


# --- limits and budget -----------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """What one tester may do with one model: the model's limits narrowed by the cohort's."""

    num_frames: int
    width: int
    height: int
    steps: int
    guidance: float
    max_concurrent_jobs: int | None  # None: no per-tester limit (staff)
    max_queued_jobs: int | None
    gpu_seconds_per_day: int | None


def _narrow(model_limit, cohort_limit):
    return model_limit if cohort_limit is None else min(model_limit, cohort_limit)


def limits_for(user: User, spec) -> Limits | None:
    """None when `user` may not use `spec` at all (not in a cohort that lists it)."""
    cohort = user.cohort
    if cohort is None:
        if not user.is_staff:
            return None
        return Limits(
            num_frames=spec.limits.num_frames,
            width=spec.limits.width,
            height=spec.limits.height,
            steps=spec.limits.steps,
            guidance=spec.limits.guidance,
            max_concurrent_jobs=None,
            max_queued_jobs=None,
            gpu_seconds_per_day=None,
        )
    if spec.name not in cohort.model_names:
        return None
    return Limits(
        num_frames=_narrow(spec.limits.num_frames, cohort.max_frames),
        width=_narrow(spec.limits.width, cohort.max_width),
        height=_narrow(spec.limits.height, cohort.max_height),
        steps=_narrow(spec.limits.steps, cohort.max_steps),
        guidance=spec.limits.guidance,
        max_concurrent_jobs=cohort.max_concurrent_jobs,
        max_queued_jobs=cohort.max_queued_jobs,
        gpu_seconds_per_day=cohort.gpu_seconds_per_day,
    )


@dataclass(frozen=True)
class Budget:
    waiting: int  # queued + running jobs
    waiting_limit: int | None
    gpu_seconds_used_today: float
    gpu_seconds_per_day: int | None

    @property
    def gpu_seconds_left(self) -> float | None:
        if self.gpu_seconds_per_day is None:
            return None
        return max(0.0, self.gpu_seconds_per_day - self.gpu_seconds_used_today)

    @property
    def slots_left(self) -> int | None:
        return None if self.waiting_limit is None else max(0, self.waiting_limit - self.waiting)


def budget_for(user: User) -> Budget:
    from generation.models import Job

    cohort = user.cohort
    day_start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    jobs = Job.objects.filter(owner=user)
    waiting = jobs.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]).count()
    used = jobs.filter(finished_at__gte=day_start).aggregate(s=Sum("gpu_seconds"))["s"] or 0.0
    limit = None
    if cohort is not None:
        limit = cohort.max_queued_jobs + cohort.max_concurrent_jobs
    return Budget(
        waiting=waiting,
        waiting_limit=limit,
        gpu_seconds_used_today=float(used),
        gpu_seconds_per_day=cohort.gpu_seconds_per_day if cohort else None,
    )


# --- tokens ----------------------------------------------------------------------------------


def token_lookup(plaintext: str) -> ApiToken | None:
    """The token `vern_<prefix>_<secret>` names, if its secret matches (constant-time compare)."""
    from access.services import TOKEN_PREFIX, token_digest

    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    prefix, _, secret = plaintext[len(TOKEN_PREFIX) :].partition("_")
    token = ApiToken.objects.select_related("user", "user__cohort").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.digest, token_digest(secret)):
        return None
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
