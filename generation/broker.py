"""What the Celery broker (Redis) holds right now, read directly: which job messages exist.

The dispatcher sends each job's message with the job's `dispatch_id` as its task id, so a job
marked dispatched whose id is neither waiting in its queue nor delivered-but-unacked in a worker
was never sent (a crash between commit and send) or was lost (a Redis restart). Reading the
kombu Redis transport's own keys is cheap: the dispatcher keeps at most two messages per GPU slot
in flight, so the lists are short.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import redis
from django.conf import settings

from access.redis_pool import redis_client

logger = logging.getLogger(__name__)

UNACKED_KEY = "unacked"  # kombu's Redis transport: delivery tag -> [message, exchange, key]
PRIORITY_SEPARATOR = "\x06\x16"  # kombu's key for queue "q" at priority p is "q\x06\x16p"
PRIORITY_STEPS = (3, 6, 9)


def _task_id(raw: bytes | str) -> str | None:
    try:
        message = json.loads(raw)
        if isinstance(message, list):  # an unacked entry wraps the message
            message = message[0]
        return str(message["headers"]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _queue_keys(queues: Iterable[str]) -> list[str]:
    return [
        key
        for queue in queues
        for key in (queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS))
    ]


def message_ids(queues: Iterable[str]) -> set[str] | None:
    """Task ids waiting in `queues` or delivered and not yet acknowledged by any worker.

    None when the broker cannot be read (down, or not Redis): the caller must not conclude that
    anything was lost.
    """
    try:
        with redis_client(settings.CELERY_BROKER_URL).pipeline(transaction=False) as pipe:
            for key in _queue_keys(queues):
                pipe.lrange(key, 0, -1)
            pipe.hvals(UNACKED_KEY)
            results = pipe.execute()
    except (redis.RedisError, ValueError) as exc:
        logger.warning("Cannot read the broker to find lost messages: %s", exc)
        return None
    raws = [raw for result in results for raw in result]
    return {task_id for raw in raws if (task_id := _task_id(raw)) is not None}
