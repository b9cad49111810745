"""What the lab may do with an artist's work, and what artists can hold it to.

- `UseRequest`: staff ask to use one output for one purpose beyond review and the artist's own
  sharing; only a GRANTED request permits a use (`OutputUse` records each one).
- `TrainingPreference` / `JobTrainingRecord`: the artist's default for training, and the value in
  force when each job was submitted (like `Job.terms_version`).
- `Appeal`: one per rejected or needs-changes output, decided by a reviewer other than the one
  who decided the output.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from access.states import HasTransitions, TransitionQuerySet
from generation.models import Job
from review.models import Feedback, Finding, Output


class Purpose(models.TextChoices):
    SHOWCASE = "showcase", "Showcase on the lab's site"
    MARKETING = "marketing", "Marketing or press"
    TRAINING = "training", "Training dataset"
    EVALUATION = "evaluation", "Evaluation dataset"


class UseRequest(HasTransitions, models.Model):
    """Staff's request to use one output for one purpose, and the artist's answer.

    Transitions (`TRANSITIONS` below; only `fairness.services` changes them, each through
    `objects.transition`):
        PENDING -> GRANTED | DECLINED   (the artist answers)
        GRANTED -> WITHDRAWN            (the artist takes consent back: no use from then on)
    DECLINED and WITHDRAWN are final. At most one open (pending or granted) request per output and
    purpose; after a decline or withdrawal staff may ask again, with a new message.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Awaiting your answer"
        GRANTED = "granted", "Granted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.PENDING: frozenset({State.GRANTED, State.DECLINED}),
        State.GRANTED: frozenset({State.WITHDRAWN}),
    }

    output = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="use_requests")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    message = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    answered_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TransitionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("request_output_use", "Can ask artists to use their outputs")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "granted", "declined", "withdrawn"]),
                name="fairness_userequest_state_valid",
            ),
            models.UniqueConstraint(
                fields=["output", "purpose"],
                condition=Q(state__in=["pending", "granted"]),
                name="fairness_one_open_request_per_purpose",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} of {self.output_id} ({self.state})"


class OutputUse(models.Model):
    """One use of an output under a granted request (an export, a post, a dataset build)."""

    request = models.ForeignKey(UseRequest, on_delete=models.PROTECT, related_name="uses")
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Use of {self.request}"


class TrainingPreference(models.Model):
    """An artist's default for training use; off unless they opt in (no row: off)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_preference"
    )
    opted_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Training {'opt-in' if self.opted_in else 'opt-out'} of {self.user_id}"


class JobTrainingRecord(models.Model):
    """The training preference in force when a job was submitted; never changed afterwards."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="training_record")
    opted_in = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Job {self.job_id}: training {'opt-in' if self.opted_in else 'opt-out'}"


class Appeal(HasTransitions, models.Model):
    """An artist's appeal of a rejection or a request for changes: one per output.

    Transitions (`TRANSITIONS` below; only `fairness.services` changes them):
        OPEN -> UPHELD       (the decision stands)
              | OVERTURNED   (the output is approved by the appeal's reviewer)
    UPHELD and OVERTURNED are final. The reviewer who made the appealed decision never decides
    its appeal: the service refuses it and a CheckConstraint forbids it in the database too.
    """

    class State(models.TextChoices):
        OPEN = "open", "Under appeal"
        UPHELD = "upheld", "Decision upheld"
        OVERTURNED = "overturned", "Decision overturned"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.OPEN: frozenset({State.UPHELD, State.OVERTURNED}),
    }

    output = models.OneToOneField(Output, on_delete=models.CASCADE, related_name="appeal")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField()
    appealed_state = models.CharField(max_length=16)
    appealed_reason = models.CharField(max_length=200, blank=True)
    original_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    due_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TransitionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["open", "upheld", "overturned"]),
                name="fairness_appeal_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True)
                | Q(original_reviewer__isnull=True)
                | ~Q(decided_by=F("original_reviewer")),
                name="fairness_appeal_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"Appeal of {self.output_id} ({self.state})"


class Thread(HasTransitions, models.Model):
    """The lab's answer to one piece of feedback or one finding: a status its author sees, and
    messages between the author and staff. A row appears with the first reply or status change;
    until then the item is simply RECEIVED.

    Transitions (`TRANSITIONS` below; only `fairness.services` changes them):
        RECEIVED -> INVESTIGATING | ADDRESSED | WONT_FIX
        INVESTIGATING -> ADDRESSED | WONT_FIX
    ADDRESSED and WONT_FIX are final. ADDRESSED names the model version (a CheckConstraint).
    A finding's thread is visible to its reporter and staff only, like the finding.
    """

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        INVESTIGATING = "investigating", "Under investigation"
        ADDRESSED = "addressed", "Addressed in a model version"
        WONT_FIX = "wont_fix", "Won't fix"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.RECEIVED: frozenset({State.INVESTIGATING, State.ADDRESSED, State.WONT_FIX}),
        State.INVESTIGATING: frozenset({State.ADDRESSED, State.WONT_FIX}),
    }

    feedback = models.OneToOneField(
        Feedback, null=True, blank=True, on_delete=models.CASCADE, related_name="thread"
    )
    finding = models.OneToOneField(
        Finding, null=True, blank=True, on_delete=models.CASCADE, related_name="thread"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    status_note = models.TextField(blank=True)
    model_version = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TransitionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["received", "investigating", "addressed", "wont_fix"]),
                name="fairness_thread_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(feedback__isnull=True, finding__isnull=False)
                | Q(feedback__isnull=False, finding__isnull=True),
                name="fairness_thread_one_item",
            ),
            models.CheckConstraint(
                condition=~Q(state="addressed") | ~Q(model_version=""),
                name="fairness_thread_addressed_names_version",
            ),
        ]

    def __str__(self) -> str:
        item = f"feedback {self.feedback_id}" if self.feedback_id else f"finding {self.finding_id}"
        return f"Thread on {item} ({self.state})"


class ThreadMessage(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Message in {self.thread_id} by {self.author_id}"


DEFAULT_ABOUT = (
    "A closed alpha of an unreleased text-to-video model. You make videos with it before anyone "
    "else, and tell the lab what works and what does not."
)
DEFAULT_RECEIVE = (
    "Ask the program's organisers what participants receive (grants, credits, events)."
)
DEFAULT_OUTPUTS = (
    "You see your videos; reviewers see them to decide whether they may be shared. Members of the "
    "program see those you put in the gallery, and anyone sees those you share by link, always "
    "with your credit. The lab uses a video for anything else (its site, marketing or press, a "
    "training or evaluation dataset) only with your consent for that video and that purpose, "
    "which you can withdraw.\n\n"
    "You can delete any of your videos, and your cohort may set a retention period after which "
    "they are deleted. Deleting erases the video, its poster and its share links. A legal hold "
    "placed by staff for an investigation pauses deletion. The record that you made the video "
    "(its id, job, prompt and file fingerprint) stays in the audit log, so that a leak can still "
    "be traced."
)


class ProgramPage(models.Model):
    """The program page's configurable text: one row (pk 1), edited by admins in the admin."""

    about = models.TextField(default=DEFAULT_ABOUT, help_text="What the program is.")
    participants_receive = models.TextField(
        default=DEFAULT_RECEIVE, help_text="What participants receive: grants, credits, events."
    )
    outputs_policy = models.TextField(
        default=DEFAULT_OUTPUTS, help_text="What happens to outputs: who sees them, retention."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "Program page"

    @classmethod
    def current(cls) -> ProgramPage:
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class LegalHold(models.Model):
    """Staff pause the deletion of a tester's outputs for an investigation: neither the artist
    nor the retention period deletes anything while a hold is active (not released). Placing and
    releasing are audited; at most one active hold per tester."""

    tester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="legal_holds"
    )
    reason = models.CharField(max_length=500)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("place_legal_hold", "Can place and release legal holds")]
        constraints = [
            models.UniqueConstraint(
                fields=["tester"],
                condition=Q(released_at__isnull=True),
                name="fairness_one_active_hold_per_tester",
            )
        ]

    def __str__(self) -> str:
        return f"Legal hold on {self.tester_id}{' (released)' if self.released_at else ''}"
