"""Every state change of the webhooks app: endpoints (create, update, delete, rotate), events
fanned out to deliveries, each delivery attempt, and replays.

Endpoints belong to one owner, who alone manages them and sees their deliveries; events carry only
that owner's own job or output. `event_emit` stores the deliveries and, after commit, sends their
ids to the CPU worker (`webhooks.tasks.deliver`); `delivery_attempt` is that task's body: it
checks the target again, POSTs once and records the answer, then schedules the next attempt
(exponential, jittered) or ends the delivery.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from access.models import User
from access.roles import can_submit
from access.services import audit_record
from webhooks import audit
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, EventType
from webhooks.signing import secret_generate, secret_open, secret_seal, signed_headers
from webhooks.targets import Unresolvable, UnsafeTarget, target_resolve
from webhooks.transport import Answer, post

DELIVER_TASK = "webhooks.deliver"
URL_MAX_CHARS = 2000
DESCRIPTION_MAX_CHARS = 200


class WebhookError(Exception):
    """A request that breaks a rule; `errors` maps each field to readable messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class IssuedEndpoint:
    """An endpoint with its secret in the clear: returned once, at creation or rotation."""

    endpoint: Endpoint
    secret: str


def can_register(user: User) -> bool:
    """Testers (who may submit jobs) and staff, while their access lasts."""
    return user.may_act() and (can_submit(user) or user.is_staff)


def _require_registrant(user: User) -> None:
    if not can_register(user):
        raise PermissionDenied("Webhooks are for testers and staff whose access is active.")


def _require_owner(endpoint: Endpoint, by: User) -> None:
    _require_registrant(by)
    if endpoint.owner_id != by.id:
        raise PermissionDenied("Only the endpoint's owner manages it.")


# --- endpoints -------------------------------------------------------------------------------


def _clean_events(events: Iterable[str]) -> list[str]:
    chosen = set(events)
    if not chosen:
        raise WebhookError({"events": ["Choose at least one event type."]})
    if unknown := sorted(chosen - set(EventType.values)):
        known = ", ".join(EventType.values)
        raise WebhookError({"events": [f"Unknown event types {unknown}; choose from {known}."]})
    return [value for value in EventType.values if value in chosen]


def _clean_url(url: str) -> str:
    url = url.strip()
    if len(url) > URL_MAX_CHARS:
        raise WebhookError({"url": [f"The URL is longer than {URL_MAX_CHARS} characters."]})
    try:
        target_resolve(url)
    except UnsafeTarget as exc:
        raise WebhookError({"url": [str(exc)]}) from None
    return url


def endpoint_create(
    *, owner: User, url: str, events: Iterable[str], description: str = "", enabled: bool = True
) -> IssuedEndpoint:
    _require_registrant(owner)
    chosen, url = _clean_events(events), _clean_url(url)
    if Endpoint.objects.filter(owner=owner).count() >= settings.WEBHOOK_MAX_ENDPOINTS:
        limit = settings.WEBHOOK_MAX_ENDPOINTS
        raise WebhookError({"url": [f"You have {limit} endpoints already: delete one first."]})
    secret = secret_generate()
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            owner=owner,
            url=url,
            events=chosen,
            description=description[:DESCRIPTION_MAX_CHARS],
            enabled=enabled,
            secret_encrypted=secret_seal(secret),
        )
        details = {"url": url, "events": chosen, "enabled": enabled}
        audit_record(action=audit.ENDPOINT_CREATED, actor=owner, target=endpoint, details=details)
    return IssuedEndpoint(endpoint, secret)


def endpoint_update(*, endpoint: Endpoint, by: User, **changes: Any) -> Endpoint:
    """Change any of url, events, description, enabled (the others are left as they are)."""
    _require_owner(endpoint, by)
    if unknown := set(changes) - {"url", "events", "description", "enabled"}:
        raise ValueError(f"endpoint_update cannot change {sorted(unknown)}")
    if "url" in changes:
        changes["url"] = _clean_url(changes["url"])
    if "events" in changes:
        changes["events"] = _clean_events(changes["events"])
    if "description" in changes:
        changes["description"] = changes["description"][:DESCRIPTION_MAX_CHARS]
    with transaction.atomic():
        for name, value in changes.items():
            setattr(endpoint, name, value)
        endpoint.save(update_fields=[*changes, "updated_at"])
        audit_record(action=audit.ENDPOINT_CHANGED, actor=by, target=endpoint, details=changes)
    return endpoint


def endpoint_delete(*, endpoint: Endpoint, by: User) -> None:
    """Delete the endpoint and its delivery log; messages still queued find nothing to send."""
    _require_owner(endpoint, by)
    with transaction.atomic():
        audit_record(
            action=audit.ENDPOINT_DELETED, actor=by, target=endpoint, details={"url": endpoint.url}
        )
        endpoint.delete()


def endpoint_rotate(*, endpoint: Endpoint, by: User) -> IssuedEndpoint:
    """A new secret, shown once; the old one stops signing at once (pending retries included)."""
    _require_owner(endpoint, by)
    secret = secret_generate()
    with transaction.atomic():
        endpoint.secret_encrypted = secret_seal(secret)
        endpoint.save(update_fields=["secret_encrypted", "updated_at"])
        audit_record(action=audit.ENDPOINT_ROTATED, actor=by, target=endpoint)
    return IssuedEndpoint(endpoint, secret)


# --- events and deliveries -------------------------------------------------------------------


def event_emit(*, owner_id: int, event_type: str, data: dict[str, Any]) -> list[Delivery]:
    """Queue the event for each of the owner's enabled endpoints subscribed to it. Nothing for an
    owner whose access has ended (revoked, suspended, contained): their endpoints stop."""
    endpoints = [
        endpoint
        for endpoint in Endpoint.objects.filter(owner_id=owner_id, enabled=True)
        if event_type in endpoint.events
    ]
    if not endpoints or not User.objects.get(pk=owner_id).may_act():
        return []
    envelope = {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}
    body = json.dumps(envelope, separators=(",", ":"), sort_keys=True)
    message_id = f"msg_{uuid.uuid4().hex}"
    deliveries = [
        Delivery(endpoint=endpoint, message_id=message_id, event_type=event_type, body=body)
        for endpoint in endpoints
    ]
    with transaction.atomic():
        Delivery.objects.bulk_create(deliveries)
        transaction.on_commit(lambda: _send_all(deliveries))
    return deliveries


def _send_all(deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        _send(delivery)


def _send(delivery: Delivery, *, countdown: float = 0.0) -> None:
    """Transport only: the message names the delivery and the attempt it is for."""
    from config.celery import app

    app.send_task(
        DELIVER_TASK,
        args=[str(delivery.id), delivery.attempts + 1],
        queue=settings.WEBHOOK_QUEUE,
        countdown=countdown,
    )


def delivery_attempt(*, delivery_id: uuid.UUID, attempt: int) -> Delivery | None:
    """Make attempt number `attempt` of a pending delivery. None: this message is stale (a
    duplicate, or the delivery ended or moved on), and nothing is sent."""
    claimed = Delivery.objects.filter(
        id=delivery_id, state=Delivery.State.PENDING, attempts=attempt - 1
    ).update(attempts=attempt, next_attempt_at=None, updated_at=timezone.now())
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("endpoint__owner").get(id=delivery_id)
    if reason := _skip_reason(delivery):
        return _record(delivery, Answer(None, "", reason, 0), final=Delivery.State.SKIPPED)
    answer, retry = _post(delivery)
    if answer.ok:
        return _record(delivery, answer, final=Delivery.State.SUCCEEDED)
    if not retry or attempt >= settings.WEBHOOK_MAX_ATTEMPTS:
        return _record(delivery, answer, final=Delivery.State.FAILED)
    return _record(delivery, answer, retry_in=retry_delay(attempt))


def _skip_reason(delivery: Delivery) -> str:
    if not delivery.endpoint.enabled:
        return "The endpoint is disabled."
    if not delivery.endpoint.owner.may_act():
        return "The owner's access has ended."
    return ""


def _post(delivery: Delivery) -> tuple[Answer, bool]:
    """The answer, and whether another attempt may help. A target that is refused now (its name
    resolves to a private address: DNS rebinding) fails at once; a name that does not resolve
    may again."""
    try:
        target = target_resolve(delivery.endpoint.url)
    except Unresolvable as exc:
        return Answer(None, "", str(exc), 0), True
    except UnsafeTarget as exc:
        return Answer(None, "", f"Refused: {exc}", 0), False
    headers = signed_headers(
        secret=secret_open(delivery.endpoint.secret_encrypted),
        message_id=delivery.message_id,
        timestamp=int(time.time()),
        body=delivery.body,
    )
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    return post(target, body=delivery.body.encode(), headers=headers, timeout=timeout), True


def retry_delay(attempt: int) -> float:
    """Seconds before the attempt after `attempt`: BASE * 4**(attempt-1), capped, with jitter
    (half to all of it) so that retries of many deliveries to an endpoint that was down do not
    all arrive in the same second when it comes back."""
    base, cap = settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS
    return min(cap, base * 4 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _record(
    delivery: Delivery, answer: Answer, *, final: str | None = None, retry_in: float = 0.0
) -> Delivery:
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            status_code=answer.status_code,
            error=answer.error[:500],
            duration_ms=answer.duration_ms,
            response_snippet=answer.snippet[:500],
        )
        if final is not None:
            Delivery.objects.filter(id=delivery.id).transition(final, finished_at=now)
        else:
            due = now + timedelta(seconds=retry_in)
            Delivery.objects.filter(id=delivery.id).update(next_attempt_at=due, updated_at=now)
            transaction.on_commit(lambda: _send(delivery, countdown=retry_in))
    delivery.refresh_from_db()
    return delivery


def deliveries_resend_lost(*, older_than: timedelta) -> int:
    """Send again each pending delivery whose message looks lost (a crash between commit and send,
    a Redis restart, a worker killed mid-attempt): due, or last touched, longer ago than
    `older_than`. The database is the truth; a late original is fenced off by its attempt
    number. Returns how many were sent."""
    cutoff = timezone.now() - older_than
    lost = Delivery.objects.filter(state=Delivery.State.PENDING).filter(
        Q(next_attempt_at__lt=cutoff) | Q(next_attempt_at__isnull=True, updated_at__lt=cutoff)
    )
    count = 0
    for delivery in lost:
        _send(delivery)
        count += 1
    return count


def delivery_replay(*, delivery: Delivery, by: User) -> Delivery:
    """Send a finished delivery's event again, as a new delivery: same `webhook-id` and body
    (receivers that deduplicate by id recognise it), signed with the endpoint's current secret."""
    endpoint = delivery.endpoint
    _require_owner(endpoint, by)
    delivery.refresh_from_db(fields=["state"])
    if delivery.state == Delivery.State.PENDING:
        raise WebhookError({"delivery": ["This delivery is still being attempted."]})
    if not endpoint.enabled:
        raise WebhookError({"enabled": ["The endpoint is disabled: enable it first."]})
    with transaction.atomic():
        replay = Delivery.objects.create(
            endpoint=endpoint,
            message_id=delivery.message_id,
            event_type=delivery.event_type,
            body=delivery.body,
            replay_of=delivery,
        )
        audit_record(
            action=audit.DELIVERY_REPLAYED,
            actor=by,
            target=replay,
            details={"replay_of": str(delivery.id), "event": delivery.event_type},
        )
        transaction.on_commit(lambda: _send(replay))
    return replay


__all__ = [
    "DELIVER_TASK",
    "IssuedEndpoint",
    "WebhookError",
    "can_register",
    "deliveries_resend_lost",
    "delivery_attempt",
    "delivery_replay",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_rotate",
    "endpoint_update",
    "event_emit",
    "retry_delay",
]
