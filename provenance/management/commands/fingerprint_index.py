"""`manage.py fingerprint_index`: fingerprint every output that has no PDQ hashes yet."""

from django.core.management.base import BaseCommand

from provenance.indexing import fingerprints_index


class Command(BaseCommand):
    help = "Compute PDQ fingerprints of outputs that have none (traces also do, in batches)."

    def handle(self, *args, **options) -> None:
        total = 0
        while done := fingerprints_index(limit=200):
            total += done
        self.stdout.write(self.style.SUCCESS(f"Fingerprinted {total} outputs."))
