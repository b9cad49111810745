from django.core.management.base import BaseCommand, CommandError

from access.services import InvitationError, invitation_create


class Command(BaseCommand):
    help = "Invite a tester by email and print their one-time invitation link."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        try:
            issued = invitation_create(email=email, invited_by=None)
        except InvitationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Invitation for {issued.invitation.email} "
            f"(expires {issued.invitation.expires_at:%Y-%m-%d %H:%M} UTC):"
        )
        self.stdout.write(issued.url)
