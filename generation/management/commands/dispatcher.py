import logging
import signal
import time

import redis
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connections

from generation.heartbeat import dispatcher_beat
from generation.services import jobs_reconcile
from review.services import output_files_sweep

logger = logging.getLogger("generation.dispatcher")

# Errors of the services the dispatcher depends on: wait them out, never exit on them.
OUTAGES = (DatabaseError, redis.RedisError, ConnectionError, TimeoutError, OSError)
MAX_BACKOFF_SECONDS = 30
SWEEP_EVERY_TICKS = 300  # orphaned output files, about every 10 minutes at the default tick


class Command(BaseCommand):
    help = (
        "Run the dispatcher: every few seconds recover stalled and lost jobs, expire overdue ones "
        "and hand free GPU slots to waiting jobs. Several may run at once (they do not collide). "
        "It outlives database and Redis outages: one log line when one starts, one when it ends."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="one tick, then exit")

    def handle(self, *args, once: bool, **options) -> None:
        stopping: list[bool] = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        outage_since: float | None = None
        tick = 0
        while not stopping:
            try:
                self._tick(tick)
                if outage_since is not None:
                    logger.warning("Dispatcher: services back after %.0f s", _since(outage_since))
                    outage_since = None
            except OUTAGES as exc:
                if once:
                    raise
                if outage_since is None:
                    logger.error("Dispatcher: waiting for an outage to end: %s", exc)
                    outage_since = time.monotonic()
                connections.close_all()  # a broken connection is never reused
            if once:
                return
            close_old_connections()  # between ticks, like between requests
            tick += 1
            time.sleep(_pause(outage_since))

    def _tick(self, tick: int) -> None:
        report = jobs_reconcile()
        dispatcher_beat()  # after the work: a tick that fails on an outage is not a sign of life
        if any(vars(report).values()):
            self.stdout.write(str(report))
        if tick % SWEEP_EVERY_TICKS == SWEEP_EVERY_TICKS - 1:
            output_files_sweep()


def _since(started: float) -> float:
    return time.monotonic() - started


def _pause(outage_since: float | None) -> float:
    """The tick, or during an outage a pause that grows to MAX_BACKOFF_SECONDS."""
    if outage_since is None:
        return settings.DISPATCH_TICK_SECONDS
    return min(MAX_BACKOFF_SECONDS, settings.DISPATCH_TICK_SECONDS + _since(outage_since) / 4)
