"""The dispatcher's sign of life: the time of its last tick, kept in the cache (Redis).

Every dispatcher beats after each tick's work (several may run; the freshest beat counts).
Readiness (`/health/ready`) and the metrics read it: a dispatcher that stopped ticking means no
job is recovered, expired or handed to a free GPU slot any more.
"""

from __future__ import annotations

import logging
import time

import redis
from django.core.cache import cache

logger = logging.getLogger(__name__)

DISPATCHER_HEARTBEAT_KEY = "dispatcher:heartbeat"
# Kept well past any staleness threshold, so "stale" and "never beat" stay distinguishable.
KEEP_SECONDS = 24 * 3600


def dispatcher_beat() -> None:
    """Record a tick. Never raises: with Redis away there is nobody to tell, and the dispatcher's
    own work (which needs the database, not Redis) must go on."""
    try:
        cache.set(DISPATCHER_HEARTBEAT_KEY, time.time(), timeout=KEEP_SECONDS)
    except (redis.RedisError, ConnectionError, TimeoutError) as exc:
        logger.debug("Dispatcher heartbeat not recorded: %s", exc)


def dispatcher_last_beat() -> float | None:
    """Unix time of the last tick of any dispatcher, or None if none beat within a day."""
    value = cache.get(DISPATCHER_HEARTBEAT_KEY)
    return float(value) if value is not None else None
