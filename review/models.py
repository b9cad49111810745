from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from access.states import HasTransitions, TransitionQuerySet
from generation.models import Job


class Output(HasTransitions, models.Model):
    """The video a succeeded job produced, and its moderation state.

    Transitions (`TRANSITIONS` below; only `review.services` changes them, each through
    `objects.transition`, the shared guard in `access/states.py`: one conditional UPDATE):
        PENDING -> APPROVED        (after `approvals_required` approvals by distinct reviewers)
        PENDING -> REJECTED | NEEDS_CHANGES
        APPROVED -> WITHDRAWN      (staff take an approval back; share links die at once)
        APPROVED -> PENDING        (the stored file no longer matches the approved hash)
        REJECTED -> APPROVED       (overturned on appeal by a reviewer other than the decider)
        NEEDS_CHANGES -> APPROVED  (likewise)
        REJECTED | NEEDS_CHANGES -> PENDING
                                   (overturned on appeal, but its lane needs one more approval)
        PENDING | APPROVED | REJECTED | NEEDS_CHANGES | WITHDRAWN -> DELETED
                                   (its artist or the retention period erased its files)
    DELETED is final: the row stays, without files, so the audit log's trace of who made what
    still resolves. A CheckConstraint bounds `state`.
    Nothing is shareable unless APPROVED. Files live in the private "outputs" storage and are only
    served through views that check who is asking.

    A reviewer claims an item while looking at it (`claimed_by` until `claim_expires_at`); a claim
    by someone else blocks decisions, and it expires by itself.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        NEEDS_CHANGES = "needs_changes", "Needs changes"
        WITHDRAWN = "withdrawn", "Approval withdrawn"
        DELETED = "deleted", "Deleted"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.PENDING: frozenset(
            {State.APPROVED, State.REJECTED, State.NEEDS_CHANGES, State.DELETED}
        ),
        State.APPROVED: frozenset({State.WITHDRAWN, State.PENDING, State.DELETED}),
        State.REJECTED: frozenset({State.APPROVED, State.PENDING, State.DELETED}),
        State.NEEDS_CHANGES: frozenset({State.APPROVED, State.PENDING, State.DELETED}),
        State.WITHDRAWN: frozenset({State.DELETED}),
    }

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
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approved_sha256 = models.CharField(max_length=64, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=200, blank=True)
    decision_note = models.TextField(blank=True)
    in_gallery = models.BooleanField(default=False, help_text="Owner opted in to the gallery.")
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The invisible mark the worker embedded (generation/marks.py): a leaked copy names this row.
    mark_serial = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    mark_algorithm = models.CharField(max_length=40, blank=True, editable=False)
    mark_key_version = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TransitionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["state", "decided_at"]),
        ]
        permissions = [("moderate_output", "Can approve or reject outputs")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    state__in=[
                        "pending",
                        "approved",
                        "rejected",
                        "needs_changes",
                        "withdrawn",
                        "deleted",
                    ]
                ),
                name="review_output_state_valid",
            )
        ]

    def __str__(self) -> str:
        return f"Output of job {self.job_id} ({self.state})"

    def claimed_by_other(self, user, at=None) -> bool:
        at = at or timezone.now()
        return (
            self.claimed_by_id is not None
            and self.claimed_by_id != user.id
            and self.claim_expires_at is not None
            and self.claim_expires_at > at
        )


class Approval(models.Model):
    """One reviewer's approval of one output, bound to the file's hash at that moment."""

    output = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="approvals")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["output", "reviewer"], name="review_one_approval_each")
        ]

    def __str__(self) -> str:
        return f"Approval of {self.output_id} by {self.reviewer_id}"


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
    show_prompt = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    # The link's own marked copy (made on first view): a clip leaked from it names the link.
    mark_serial = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    marked_video_name = models.CharField(max_length=200, blank=True, editable=False)
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


class Feedback(models.Model):
    """A tester's voluntary rating and notes for the lab on one of their outputs."""

    output = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="feedback")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rating = models.PositiveSmallIntegerField()
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["output", "author"], name="review_feedback_once"),
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 on {self.output_id}"


class Finding(models.Model):
    """A red-teamer's report of a harm in an output. Visible only to staff and its reporter.

    Transitions: NEW -> TRIAGED -> RESOLVED (and NEW -> RESOLVED), by staff, in `review.services`.
    """

    class State(models.TextChoices):
        NEW = "new", "New"
        TRIAGED = "triaged", "Triaged"
        RESOLVED = "resolved", "Resolved"

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Category(models.TextChoices):
        VIOLENCE = "violence", "Violence or gore"
        SEXUAL = "sexual", "Sexual content"
        MINORS = "minors", "Content involving minors"
        HATE = "hate", "Hate or harassment"
        LIKENESS = "likeness", "Real person's likeness"
        COPYRIGHT = "copyright", "Copyrighted material"
        MISINFORMATION = "misinformation", "Deceptive or misleading"
        SELF_HARM = "self-harm", "Self-harm"
        OTHER = "other", "Other"

    output = models.ForeignKey(Output, on_delete=models.PROTECT, related_name="findings")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="findings"
    )
    category = models.CharField(max_length=24, choices=Category.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    description = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_severity_display()} {self.category} finding on {self.output_id}"


class NotificationPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email_on_decision = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Notifications of {self.user_id}"


class TesterNote(models.Model):
    """Reviewers' private note on one tester (shown beside their items in the queue).

    One per tester; testers never see it (no tester page, API or export reads it). Every change is
    audited by `tester_note_set`.
    """

    tester = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tester_note"
    )
    body = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Reviewers' note on {self.tester_id}"
