import secrets

from django.core.management.base import BaseCommand

from access.models import Invitation, User
from access.services import invitation_create
from review.roles import reviewer_grant

ADMIN_EMAIL = "admin@vernissage.local"
REVIEWER_EMAIL = "reviewer@vernissage.local"
TESTER_EMAIL = "tester@vernissage.local"


class Command(BaseCommand):
    help = "Create the demo admin, reviewer and tester invitation once; later runs change nothing."

    def handle(self, *args, **options) -> None:
        self._account(ADMIN_EMAIL, "demo-admin", superuser=True)
        reviewer = self._account(REVIEWER_EMAIL, "demo-reviewer", superuser=False)
        if reviewer is not None:
            reviewer_grant(user=reviewer)
        self._invitation()

    def _account(self, email: str, username: str, *, superuser: bool) -> User | None:
        if User.objects.filter(email__iexact=email).exists():
            self.stdout.write(f"{email} exists (reset with: manage.py changepassword {username})")
            return None
        password = secrets.token_urlsafe(12)
        create = User.objects.create_superuser if superuser else User.objects.create_user
        user = create(username=username, email=email, password=password)
        self.stdout.write(self.style.SUCCESS(f"Created {email} with password: {password}"))
        self.stdout.write("  (shown once: note it now)")
        return user

    def _invitation(self) -> None:
        previous = Invitation.objects.filter(email=TESTER_EMAIL).first()
        if previous is not None:
            self.stdout.write(
                f"A demo invitation for {TESTER_EMAIL} was issued on "
                f"{previous.created_at:%Y-%m-%d} ({previous.status}). "
                "Invite someone else with: manage.py invite <email>"
            )
            return
        issued = invitation_create(email=TESTER_EMAIL, invited_by=None)
        self.stdout.write(self.style.SUCCESS(f"Tester invitation for {TESTER_EMAIL}:"))
        self.stdout.write(f"  {issued.url}")
