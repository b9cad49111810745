import logging
import math
import signal
import threading
import time

import redis
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connections

from generation.heartbeat import dispatcher_beat
from generation.services import (
    dispatcher_wait,
    jobs_dispatch_woken,
    jobs_reconcile,
    publish_queue_positions,
)
from review.services import output_files_sweep

logger = logging.getLogger("generation.dispatcher")

# Errors of the services the dispatcher depends on: wait them out, never exit on them.
OUTAGES = (DatabaseError, redis.RedisError, ConnectionError, TimeoutError, OSError)
MAX_BACKOFF_SECONDS = 30
SWEEP_EVERY_TICKS = 300  # orphaned output files, about every 10 minutes at the default tick


class Command(BaseCommand):
    help = (
        "Run the dispatcher: every few seconds recover stalled and lost jobs, expire overdue ones "
        "and hand free GPU slots to waiting jobs; between ticks, dispatch at once when a "
        "submission or a finished job wakes it. Several may run at once (they do not collide). "
        "It outlives database and Redis outages: one log line when one starts, one when it ends."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="one tick, then exit")

    def handle(self, *args, once: bool, **options) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        serve(stop, once=once, report=self.stdout.write)


def serve(stop: threading.Event, *, once: bool = False, report=logger.info) -> None:
    """The dispatcher's loop, until `stop` is set (the command sets it on SIGTERM)."""
    outage_since: float | None = None
    # After an outage, stalls are judged only once the database has been reachable for a whole
    # stall window: heartbeats could not be written during the outage, so silence proves nothing.
    connected_since: float | None = -math.inf  # None: in an outage
    positions = _OwedPositions()
    tick = 0
    while not stop.is_set():
        try:
            judge = connected_since is not None and (
                _since(connected_since) >= settings.JOB_STALL_SECONDS
            )
            _tick(tick, report, judge_stalls=judge)
            if connected_since is None:
                connected_since = time.monotonic()
            if outage_since is not None:
                logger.warning("Dispatcher: services back after %.0f s", _since(outage_since))
                outage_since = None
        except OUTAGES as exc:
            if once:
                raise
            connected_since = None
            if outage_since is None:
                logger.error("Dispatcher: waiting for an outage to end: %s", exc)
                outage_since = time.monotonic()
            connections.close_all()  # a broken connection is never reused
        if once:
            return
        close_old_connections()  # between ticks, like between requests
        tick += 1
        _between_ticks(_pause(outage_since), outage_since is not None, stop, positions)
    connections.close_all()


class _OwedPositions:
    """Queue positions owed to waiting testers after wake-ups that dispatched nothing, sent at
    most every QUEUE_POSITIONS_MIN_INTERVAL_S. A burst of submissions wakes the dispatcher once
    per submission, and each round re-sent up to QUEUE_POSITION_PUBLISH_LIMIT waiting jobs'
    positions; now the burst's last change goes out once the interval has passed."""

    def __init__(self) -> None:
        self.models: set[str] = set()
        self.sent_at = -math.inf

    def owe(self, models: list[str]) -> None:
        self.models.update(models)

    def wait_at_most(self, left: float) -> float:
        if not self.models:
            return left
        return min(left, max(0.0, self._due_at() - time.monotonic()))

    def send_if_due(self) -> None:
        if self.models and time.monotonic() >= self._due_at():
            for model_name in sorted(self.models):
                publish_queue_positions(model_name=model_name)
            self.models.clear()
            self.sent_at = time.monotonic()

    def _due_at(self) -> float:
        return self.sent_at + settings.QUEUE_POSITIONS_MIN_INTERVAL_S


def _between_ticks(
    pause: float, outage: bool, stop: threading.Event, positions: _OwedPositions
) -> None:
    """Wait for the next tick; meanwhile dispatch whenever a submission or a finished job wakes
    the dispatcher (a lost wake-up only costs the rest of the tick), and send owed positions."""
    if outage:
        stop.wait(pause)
        return
    deadline = time.monotonic() + pause
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        try:
            if dispatcher_wait(positions.wait_at_most(left)):
                positions.owe(jobs_dispatch_woken(positions=False))
            positions.send_if_due()
        except OUTAGES:
            stop.wait(max(0.0, deadline - time.monotonic()))  # the tick reports it
            return


def _tick(tick: int, report, *, judge_stalls: bool = True) -> None:
    result = jobs_reconcile(judge_stalls=judge_stalls)
    dispatcher_beat()  # after the work: a tick that fails on an outage is not a sign of life
    if any(vars(result).values()):
        report(str(result))
    if tick % SWEEP_EVERY_TICKS == SWEEP_EVERY_TICKS - 1:
        output_files_sweep()


def _since(started: float) -> float:
    return time.monotonic() - started


def _pause(outage_since: float | None) -> float:
    """The tick, or during an outage a pause that grows to MAX_BACKOFF_SECONDS."""
    if outage_since is None:
        return settings.DISPATCH_TICK_SECONDS
    return min(MAX_BACKOFF_SECONDS, settings.DISPATCH_TICK_SECONDS + _since(outage_since) / 4)
