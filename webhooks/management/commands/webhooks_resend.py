"""Send again the webhook deliveries whose message was lost. Run it every few minutes (cron)."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from webhooks.services import deliveries_resend_lost


class Command(BaseCommand):
    help = "Send again pending webhook deliveries overdue by more than --minutes (default 10)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--minutes", type=int, default=10)

    def handle(self, *args, minutes: int, **options) -> None:
        sent = deliveries_resend_lost(older_than=timedelta(minutes=max(minutes, 1)))
        self.stdout.write(f"Sent {sent} overdue webhook deliveries again.")
