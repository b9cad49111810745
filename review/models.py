from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from generation.models import Job


class Output(models.Model):
    """The video a succeeded job produced, and its moderation state.

    Transitions (only `review.services` changes them, each with a conditional UPDATE):
        PENDING -> APPROVED | REJECTED
    Nothing is shareable until APPROVED. Files live in the private "outputs" storage and are only
    served through views that check who is asking.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="output")
    video_name = models.CharField(max_length=200)
    poster_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    num_frames = models.PositiveIntegerField()
    fps = models.PositiveIntegerField()

    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["state", "created_at"])]
        permissions = [("moderate_output", "Can approve or reject outputs")]

    def __str__(self) -> str:
        return f"Output of job {self.job_id} ({self.state})"


class ShareLink(models.Model):
    """A public, revocable link to one approved output.

    The token is a 256-bit random capability to view content staff already approved; it is stored
    as is so its owner can copy the link again, and it opens nothing but that one video.
    Active = not revoked, not expired, and the output still approved (checked on every request).
    """

    output = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="share_links"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Share link for {self.output_id}"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
