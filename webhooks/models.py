from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models

from access.states import HasTransitions, TransitionQuerySet


class EventType(models.TextChoices):
    """What an endpoint may subscribe to. Each names one committed change of the owner's own job
    or output (`webhooks.receivers` maps the lower apps' signals to these)."""

    JOB_STARTED = "job.started", "A job started running"
    JOB_SUCCEEDED = "job.succeeded", "A job succeeded"
    JOB_FAILED = "job.failed", "A job failed"
    JOB_CANCELLED = "job.cancelled", "A job was cancelled"
    OUTPUT_APPROVED = "output.approved", "An output was approved"
    OUTPUT_REJECTED = "output.rejected", "An output was rejected"
    OUTPUT_NEEDS_CHANGES = "output.needs_changes", "An output needs changes"


class Endpoint(models.Model):
    """A URL of the owner's that receives signed deliveries of the events it subscribes to.

    The signing secret (`whsec_<base64>`) is shown once, at creation or rotation; it is kept
    encrypted (`webhooks.signing`), because signing needs it back.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The event types it receives.")
    enabled = models.BooleanField(default=True)
    secret_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.url} ({self.owner_id})"


class Delivery(HasTransitions, models.Model):
    """One event sent (or to be sent) to one endpoint; its attempts are `DeliveryAttempt` rows.

    Transitions (`TRANSITIONS` below, through `objects.transition`):
        PENDING -> SUCCEEDED | FAILED | SKIPPED
    SUCCEEDED, FAILED and SKIPPED are final. PENDING between attempts (`next_attempt_at` says
    when the next one is due); FAILED after WEBHOOK_MAX_ATTEMPTS; SKIPPED when the endpoint was
    disabled or its owner's access had ended by the time of sending. A replay is a new PENDING
    delivery of the same event (same `webhook-id` and body). A CheckConstraint bounds `state`.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.PENDING: frozenset({State.SUCCEEDED, State.FAILED, State.SKIPPED}),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64, help_text="The `webhook-id` header.")
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    body = models.TextField(help_text="The exact JSON sent (and signed), the same every attempt.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TransitionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "succeeded", "failed", "skipped"]),
                name="webhooks_delivery_state_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One HTTP request of a delivery: what came back, or why nothing did."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_snippet = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhooks_attempt_once")
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
