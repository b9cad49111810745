"""`manage.py c2pa_dev_ca`: the development CA and C2PA signer, made once (`make run` calls it)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation.marking.credentials import make_development_ca


class Command(BaseCommand):
    help = "Create a development CA and C2PA signing certificate once (never in production)."

    def handle(self, *args, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError("Production signs with its own certificate (VERNISSAGE_C2PA_CERT).")
        if Path(settings.C2PA_CERT_PATH).exists():
            return
        chain, _key = make_development_ca(settings.C2PA_DIR)
        self.stdout.write(f"Created a development C2PA signer: {chain}")
