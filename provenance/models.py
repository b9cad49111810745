from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models

from access.states import HasTransitions, TransitionQuerySet


class Trace(HasTransitions, models.Model):
    """One suspect file looked at: which output, share link and tester it came from, if any.

    Transitions (`TRANSITIONS` below, through `objects.transition`):
        QUEUED -> RUNNING -> DONE | FAILED     (and QUEUED -> FAILED: the file was unreadable)
    DONE and FAILED are final. "No mark found" is a DONE trace with no serial, never a guess.
    A CheckConstraint bounds `state`.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.QUEUED: frozenset({State.RUNNING, State.FAILED}),
        State.RUNNING: frozenset({State.DONE, State.FAILED}),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty: `manage.py trace` run by an operator.",
    )
    file_name = models.CharField(max_length=200, help_text="The suspect file in private storage.")
    original_name = models.CharField(max_length=200, blank=True)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    serial = models.BigIntegerField(null=True, blank=True, help_text="A verified, known serial.")
    output = models.ForeignKey(
        "review.Output", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    share_link = models.ForeignKey(
        "review.ShareLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TransitionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("run_trace", "Can trace leaked files")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["queued", "running", "done", "failed"]),
                name="provenance_trace_state_valid",
            )
        ]

    def __str__(self) -> str:
        return f"Trace {self.id} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)


class OutputFingerprint(models.Model):
    """PDQ hashes of one output's frames (every 0.25 s, quality >= 50), packed 32 bytes each.

    One row per output, written once (`fingerprints_index`); `hashes` may be empty when no frame
    was busy enough to hash. A row from before grid thumbnails existed is written again, as a new
    row, so each process's index notices and reloads."""

    # The auto id is insertion order: the in-memory index loads the rows after its last one.
    id = models.BigAutoField(primary_key=True)
    output = models.OneToOneField("review.Output", on_delete=models.CASCADE, related_name="+")
    hashes = models.BinaryField()
    seconds = models.JSONField(default=list, help_text="Where in the clip each hash was taken.")
    qualities = models.JSONField(default=list)
    thumbnails = models.BinaryField(
        null=True,
        help_text="Grid thumbnails (provenance.thumbnails), uint8, frames x rows x cols; "
        "null for rows written before they existed.",
    )
    thumbnails_shape = models.JSONField(null=True, help_text="[frames, rows, cols]")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Fingerprints of {self.output_id}"
