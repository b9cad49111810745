import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from generation.services import jobs_reconcile


class Command(BaseCommand):
    help = (
        "Run the dispatcher: every few seconds recover stalled and lost jobs, expire overdue ones "
        "and hand free GPU slots to waiting jobs. Several may run at once (they do not collide)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="one tick, then exit")

    def handle(self, *args, once: bool, **options) -> None:
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        while not stopping:
            report = jobs_reconcile()
            if any(vars(report).values()):
                self.stdout.write(str(report))
            if once:
                return
            close_old_connections()  # between ticks, like between requests
            time.sleep(settings.DISPATCH_TICK_SECONDS)
