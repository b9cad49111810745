import secrets
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from access.models import Cohort, Invitation, User
from access.roles import ADMINS, REVIEWERS, role_grant
from access.selectors import terms_current
from access.services import invitation_create, terms_publish

ADMIN_EMAIL = "admin@vernissage.local"
REVIEWER_EMAIL = "reviewer@vernissage.local"
TESTER_EMAIL = "tester@vernissage.local"
DEMO_COHORT = "Demo cohort"
DEMO_TERMS = """This is a closed alpha. What you see and make here is confidential until the lab
says otherwise. Do not share outputs except through approved share links, do not share your access
or API tokens, and do not build services on top of this program. Every output carries a trace of
who made it."""


class Command(BaseCommand):
    help = "Create the demo admin, reviewer, cohort, terms and tester invitation once."

    def handle(self, *args, **options) -> None:
        admin = self._account(ADMIN_EMAIL, "demo-admin", role=ADMINS)
        self._account(REVIEWER_EMAIL, "demo-reviewer", role=REVIEWERS)
        cohort = self._cohort()
        if terms_current() is None:
            terms_publish(title="Vernissage alpha terms", body=DEMO_TERMS, by=admin)
        self._invitation(cohort)
        self.stdout.write(
            "Staff accounts set up two-factor authentication (TOTP) at their first staff page."
        )

    def _account(self, email: str, username: str, *, role: str) -> User | None:
        existing = User.objects.filter(email__iexact=email).first()
        if existing is not None:
            self.stdout.write(f"{email} exists (reset with: manage.py changepassword {username})")
            return existing
        password = secrets.token_urlsafe(12)
        create = User.objects.create_superuser if role == ADMINS else User.objects.create_user
        user = create(username=username, email=email, password=password)
        role_grant(user=user, role=role)
        self.stdout.write(self.style.SUCCESS(f"Created {email} with password: {password}"))
        self.stdout.write("  (shown once: note it now)")
        return user

    def _cohort(self) -> Cohort:
        cohort, created = Cohort.objects.get_or_create(
            name=DEMO_COHORT,
            defaults={
                "model_names": ["demo"],
                "max_concurrent_jobs": 1,
                "max_queued_jobs": 5,
                "gpu_seconds_per_day": 600,
                "ends_at": timezone.now() + timedelta(days=365),
            },
        )
        if created:
            self.stdout.write(f"Created {cohort.name} (model demo, open for a year)")
        return cohort

    def _invitation(self, cohort: Cohort) -> None:
        previous = Invitation.objects.filter(email=TESTER_EMAIL).first()
        if previous is not None:
            self.stdout.write(
                f"A demo invitation for {TESTER_EMAIL} was issued on "
                f"{previous.created_at:%Y-%m-%d} ({previous.status}). "
                "Invite someone else with: manage.py invite <email>"
            )
            return
        issued = invitation_create(email=TESTER_EMAIL, invited_by=None, cohort=cohort, send=False)
        self.stdout.write(self.style.SUCCESS(f"Tester invitation for {TESTER_EMAIL}:"))
        self.stdout.write(f"  {issued.url}")
