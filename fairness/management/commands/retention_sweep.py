"""Delete outputs past their cohort's retention period (legal holds pause it). Run it daily."""

from django.core.management.base import BaseCommand

from fairness.services import outputs_retention_sweep


class Command(BaseCommand):
    help = "Delete outputs older than their cohort's retention period, except under legal hold."

    def handle(self, *args, **options) -> None:
        deleted = outputs_retention_sweep()
        self.stdout.write(f"Deleted {deleted} outputs past their cohort's retention period.")
