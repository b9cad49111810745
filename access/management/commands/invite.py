from django.core.management.base import BaseCommand, CommandError

from access.models import Cohort
from access.services import AccessError, invitation_create


class Command(BaseCommand):
    help = "Invite a tester by email into a cohort and print their one-time invitation link."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--cohort", default="Demo cohort", help="cohort name")
        parser.add_argument("--name", default="", help="the tester's name, for the email")

    def handle(self, *args, email: str, cohort: str, name: str, **options) -> None:
        found = Cohort.objects.filter(name__iexact=cohort).first()
        if found is None:
            names = ", ".join(Cohort.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No cohort named {cohort!r} (cohorts: {names}).")
        try:
            issued = invitation_create(
                email=email, invited_by=None, cohort=found, name=name, send=False
            )
        except AccessError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Invitation for {issued.invitation.email} into {found.name} "
            f"(expires {issued.invitation.expires_at:%Y-%m-%d %H:%M} UTC):"
        )
        self.stdout.write(issued.url)
