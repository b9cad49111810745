from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Build the tiny random-weight demo pipeline into the models folder if it is missing."

    def handle(self, *args, **options) -> None:
        from generation.pipeline.demo import ensure_demo_model  # lazy: torch, only when run

        path = settings.DEMO_MODEL_PATH
        if ensure_demo_model(path):
            self.stdout.write(self.style.SUCCESS(f"Built the demo model at {path}"))
        else:
            self.stdout.write(f"Demo model already present at {path}")
