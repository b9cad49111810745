from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, Q
from django.db.models.functions import Lower
from django.utils import timezone


class Program(models.Model):
    """The whole alpha program: one row. Pausing it is the kill switch for all non-staff access."""

    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "Program (paused)" if self.paused_at else "Program (running)"

    @classmethod
    def current(cls) -> Program:
        program, _ = cls.objects.get_or_create(pk=1)
        return program

    @classmethod
    def is_paused(cls) -> bool:
        return cls.objects.filter(cls._paused_filter()).exists()

    @classmethod
    def paused_exists(cls) -> Exists:
        """The kill switch as a subquery, for queries that read it alongside what they load
        (`token_lookup`, the sockets' standing re-check) instead of asking separately."""
        return Exists(cls.objects.filter(cls._paused_filter()))

    @staticmethod
    def _paused_filter() -> Q:
        return Q(pk=1, paused_at__isnull=False)


class Cohort(models.Model):
    """A group of testers sharing models, per-tester limits, a program window and a lane.

    Access ends by itself after `ends_at` (testers of an ended cohort are "expired"); nothing has to
    run at that moment. A null limit means "the model's own limit".
    """

    class Lane(models.TextChoices):
        ARTIST = "artist", "Artist"
        RED_TEAM = "red-team", "Red team"

    name = models.CharField(max_length=80, unique=True)
    lane = models.CharField(max_length=16, choices=Lane.choices, default=Lane.ARTIST)
    model_names = models.JSONField(default=list, help_text="Registry names this cohort may use.")
    max_concurrent_jobs = models.PositiveIntegerField(default=1)
    max_queued_jobs = models.PositiveIntegerField(default=5)
    gpu_seconds_per_day = models.PositiveIntegerField(default=1800)
    max_frames = models.PositiveIntegerField(null=True, blank=True)
    max_width = models.PositiveIntegerField(null=True, blank=True)
    max_height = models.PositiveIntegerField(null=True, blank=True)
    max_steps = models.PositiveIntegerField(null=True, blank=True)
    dispatch_weight = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(10.0)],
        help_text="Share of GPU turns per tester relative to other cohorts in the same lane.",
    )
    approvals_required = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Approvals from different reviewers before an output is shared; "
        "empty: 2 for the red-team lane, 1 otherwise.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete members' videos this many days after they were made (empty: keep). "
        "Legal holds pause it; the audit log keeps who made what.",
    )
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    suspended_at = models.DateTimeField(null=True, blank=True, editable=False)
    suspension_reason = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="access_cohort_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def is_open(self, at=None) -> bool:
        at = at or timezone.now()
        return self.starts_at <= at < self.ends_at


class User(AbstractUser):
    """A person on the platform. Testers sign in with their email; `username` is generated.

    Tester lifecycle: (invited: an Invitation, no User yet) -> ACTIVE -> SUSPENDED -> ACTIVE
    (reinstated) | REVOKED (final). EXPIRED is derived from the cohort's program window.
    Only `access.services` changes `standing`; `standing_now` is what every door checks.
    """

    class Standing(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"  # derived, never stored
        PAUSED = "paused", "Program paused"  # derived, never stored

    display_name = models.CharField(
        max_length=80, blank=True, help_text="Credit shown on public share pages."
    )
    credit_url = models.URLField(
        max_length=300, blank=True, help_text="Optional link beside the credit (https only)."
    )
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    standing = models.CharField(
        max_length=16,
        choices=[c for c in Standing.choices if c[0] not in ("expired", "paused")],
        default=Standing.ACTIVE,
    )
    standing_reason = models.CharField(max_length=500, blank=True)
    standing_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="access_user_email_ci_unique",
                condition=~models.Q(email=""),
            )
        ]

    @property
    def credit(self) -> str:
        return self.display_name or self.get_full_name() or self.email.split("@")[0]

    @property
    def standing_now(self) -> str:
        """The standing every door checks: stored standing, then program, cohort and window.

        Read fresh from the database once per user object (a request, a socket check), so a
        containment action takes effect at the very next request anywhere.
        """
        if self.standing != self.Standing.ACTIVE or self.is_staff:
            return self.standing
        if not hasattr(self, "_program_paused"):
            self._program_paused = Program.is_paused()
        if self._program_paused:
            return self.Standing.PAUSED
        cohort = self.cohort
        if cohort is not None and cohort.suspended_at is not None:
            return self.Standing.SUSPENDED
        if cohort is not None and not cohort.is_open():
            return self.Standing.EXPIRED
        return self.standing

    def may_act(self) -> bool:
        """The one standing check every door makes (pages, API, sockets, jobs, shares, gallery):
        an active account whose derived standing is ACTIVE right now."""
        return bool(self.is_active) and self.standing_now == self.Standing.ACTIVE

    def mfa_missing(self) -> bool:
        """Staff must set up two-factor authentication before anything else: pages redirect to
        the setup, and the API and every socket refuse. The one rule every door applies."""
        if not self.is_staff:
            return False
        from allauth.mfa.utils import is_mfa_enabled  # allauth's models load after ours

        return not is_mfa_enabled(self)

    @property
    def access_ended_reason(self) -> str:
        standing = self.standing_now
        if standing == self.Standing.PAUSED:
            return Program.current().pause_reason
        if standing == self.Standing.SUSPENDED and self.standing == self.Standing.ACTIVE:
            # Stored ACTIVE but derived SUSPENDED: standing_now found the cohort suspended.
            cohort = self.cohort
            if cohort is not None:
                return cohort.suspension_reason
        return self.standing_reason

    @property
    def is_red_teamer(self) -> bool:
        cohort = self.cohort  # None without a query when cohort_id is None
        return cohort is not None and cohort.lane == Cohort.Lane.RED_TEAM


def user_display(user: User) -> str:
    """How allauth names a user in its messages ("Signed in as …"): email, not the username."""
    return user.email


class Invitation(models.Model):
    """A single-use invitation bound to one email address and one cohort.

    Stored states: PENDING -> ACCEPTED | REVOKED (only `access.services` changes them).
    EXPIRED is derived: a pending invitation past `expires_at` is expired (see `status`), so no
    sweeper has to run for expiry to take effect.
    The code itself is never stored: the link carries it, the row keeps its SHA-256 digest.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    email = models.EmailField()
    name = models.CharField(max_length=80, blank=True)
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.PROTECT, related_name="invitations"
    )
    code_digest = models.CharField(max_length=64, unique=True, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    accepted_by = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitation"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    sent_count = models.PositiveIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email", "state"])]

    def __str__(self) -> str:
        return f"Invitation for {self.email} ({self.status})"

    @property
    def status(self) -> str:
        if self.state == self.State.PENDING and self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.state


class TermsVersion(models.Model):
    """A version of the program terms (NDA). The newest published version is the current one."""

    version = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"Terms v{self.version}"


class TermsAcceptance(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="terms_acceptances")
    terms = models.ForeignKey(TermsVersion, on_delete=models.PROTECT, related_name="acceptances")
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "terms"], name="access_terms_accepted_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} accepted v{self.terms.version}"


class ApiToken(models.Model):
    """A personal API token: `vern_<prefix>_<secret>`, shown once, stored as an HMAC digest.

    Usable while not revoked, not expired and its owner's standing is active.
    """

    class Scope(models.TextChoices):
        JOBS_WRITE = "jobs:write", "Submit jobs"
        JOBS_READ = "jobs:read", "Read jobs"
        OUTPUTS_READ = "outputs:read", "Read and download outputs"
        OUTPUTS_WRITE = "outputs:write", "Share outputs, give feedback, file findings"
        WEBHOOKS_READ = "webhooks:read", "Read webhook endpoints and deliveries"
        WEBHOOKS_WRITE = "webhooks:write", "Manage webhook endpoints"
        # Staff scopes: only staff with two-factor authentication and the matching role hold them.
        REVIEW_WRITE = "review:write", "Review: claim and decide outputs, move findings (staff)"
        ACCESS_ADMIN = "access:admin", "Contain testers, cohorts and the program (staff)"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when its use looked like a shared, public front-end."
    )
    suspension_reason = models.CharField(max_length=500, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (vern_{self.prefix}_…)"

    @property
    def is_usable(self) -> bool:
        return (
            self.revoked_at is None
            and self.suspended_at is None
            and self.expires_at > timezone.now()
        )


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit entries are append-only.")

    def delete(self):
        raise PermissionError("Audit entries are append-only.")


class AuditEntry(models.Model):
    """One security or moderation event. Append-only: never updated, never deleted.

    Actor and target are also kept as text so an entry still reads right after the user or object
    is gone (the foreign key then becomes null).
    """

    action = models.CharField(max_length=80, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_label = models.CharField(max_length=254, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_label or 'system'}"
        )

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries are append-only.")
