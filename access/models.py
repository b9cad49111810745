from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class User(AbstractUser):
    """A person on the platform. Testers sign in with their email; `username` is generated."""

    display_name = models.CharField(
        max_length=80, blank=True, help_text="Credit shown on public share pages."
    )
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


class Invitation(models.Model):
    """A single-use invitation bound to one email address.

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
    code_digest = models.CharField(max_length=64, unique=True, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    accepted_by = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitation"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
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
