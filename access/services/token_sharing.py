"""Token-sharing detection: a token used from too many networks or clients is suspended at once."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from access import audit
from access.models import ApiToken, User
from access.redis_pool import redis_client
from access.roles import ADMINS
from access.services.common import audit_record


def token_observe_use(*, token: ApiToken, ip: str | None, user_agent: str) -> bool:
    """Count distinct networks and clients per token over a sliding window; suspend a token
    that looks like a public front-end. Returns False when the token was just suspended."""
    window = settings.TOKEN_SHARING_WINDOW_SECONDS
    now = timezone.now().timestamp()
    pipe = redis_client(settings.CACHE_URL).pipeline()  # counters with an expiry: cache data
    for kind, value in (("ip", ip or "?"), ("ua", (user_agent or "?")[:200])):
        key = f"{settings.CACHES['default']['KEY_PREFIX']}:token-use:{token.pk}:{kind}"
        pipe.zadd(key, {value: now})
        pipe.zremrangebyscore(key, 0, now - window)
        pipe.zcard(key)
        pipe.expire(key, window)
    results = pipe.execute()
    counts: dict[str, int] = {"networks": results[2], "clients": results[6]}
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
            action=audit.TOKEN_SUSPENDED_SHARING,
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
