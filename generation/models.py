from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models

from access.states import HasTransitions, TransitionQuerySet


class Job(HasTransitions, models.Model):
    """One text-to-video request. The row is the truth; Celery messages only carry its id.

    A queued job waits in the database until the dispatcher sends it (`dispatched_at`,
    `dispatch_id`): no more at a time than the model's GPU slots can take, round-robin across
    testers. A message runs the job only if it carries the job's current `dispatch_id`, so a message
    the reconciler gave up on can never start a second run.

    Transitions (`TRANSITIONS` below; every change goes through `objects.transition`, the shared
    guard in `access/states.py`: one conditional UPDATE, never read-then-write):
        QUEUED  -> RUNNING     (a worker claims it with the current dispatch_id)
                 | CANCELLED   (owner, staff, containment, queue TTL)
                 | QUEUED      (its message is presumed lost: dispatched again)
        RUNNING -> SUCCEEDED | FAILED | CANCELLED
                 | RUNNING     (a redelivered message after its worker died starts a new attempt;
                                `attempt` tells the attempts apart)
                 | QUEUED      (a transient error is retried, or a stalled run is requeued)
    SUCCEEDED, FAILED and CANCELLED are final. Only the worker holding the current `attempt` may
    record progress or finish the job, so a stale worker can never finalise it a second time.
    A database CheckConstraint bounds `state` to these five values.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.QUEUED: frozenset({State.RUNNING, State.CANCELLED, State.QUEUED}),
        State.RUNNING: frozenset(
            {State.SUCCEEDED, State.FAILED, State.CANCELLED, State.RUNNING, State.QUEUED}
        ),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    model_name = models.CharField(max_length=40)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    seed = models.BigIntegerField()
    num_frames = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    steps = models.PositiveIntegerField()
    guidance = models.FloatField()
    client_token = models.CharField(
        max_length=64, blank=True, help_text="Idempotency key: a resubmission returns the same job."
    )
    request_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the request as submitted: the same client_token with another request "
        "is refused, not answered with this job. Empty for jobs submitted before it was kept.",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reruns",
        help_text='The job whose settings this one reused ("reuse settings"), if any.',
    )

    request_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="Id of the web request that submitted it: the dispatcher's and the worker's "
        "log lines about this job carry it too.",
    )
    terms_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Terms version the owner had accepted when submitting."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When its message went to Celery (null: still waiting)."
    )
    dispatch_id = models.UUIDField(
        null=True, blank=True, help_text="Identity of the current message; older ones are ignored."
    )
    wait_deadline = models.DateTimeField(
        null=True, blank=True, help_text="Cancelled if still waiting at this time (queue TTL)."
    )
    gpu_seconds = models.FloatField(
        default=0.0, help_text="Measured render time, charged to quota."
    )
    attempt = models.PositiveIntegerField(default=0)
    progress_step = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of the run (claim, every step, and every few seconds while "
        "loading, decoding or encoding): a silent run has lost its worker.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TransitionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("submit_job", "Can submit generation jobs")]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["model_name", "state", "dispatched_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "client_token"],
                condition=~models.Q(client_token=""),
                name="generation_job_owner_client_token_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    state__in=["queued", "running", "succeeded", "failed", "cancelled"]
                ),
                name="generation_job_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Job {self.id} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES

    @property
    def percent(self) -> int:
        if self.state == self.State.SUCCEEDED:
            return 100
        return int(100 * self.progress_step / self.steps) if self.steps else 0
