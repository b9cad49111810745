"""Readiness: can this deployment take and finish a job right now?

Each check is a small function that raises `Unhealthy` (or anything else) when its service is not
usable, and returns a short detail when it is. `readiness()` runs them all, each on its own, so one
failure never hides another, and reports every result with its time.

Our own module rather than django-health-check: half of the checks are ours anyway (a worker
consuming each enabled model's queue, the dispatcher's heartbeat, the Channels layer), the JSON
shape is ours to keep stable for the compose healthchecks, and it is about a hundred lines.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection

from config.celery import app as celery_app
from generation.heartbeat import dispatcher_last_beat
from generation.registry import enabled_models

CHANNEL_LAYER_TIMEOUT_SECONDS = 2.0


class Unhealthy(Exception):
    """A service answered, but not as it should: the message says how."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    milliseconds: float

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.milliseconds, 1)}


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_cache() -> str:
    key, value = f"health:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise Unhealthy("a value written to the cache did not read back")
    cache.delete(key)
    return "read and write"


def check_broker() -> str:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ping"


def check_channel_layer() -> str:
    """A message sent to a fresh channel of the layer comes back from it."""

    async def round_trip() -> bool:
        import asyncio

        layer = get_channel_layer()
        if layer is None:
            raise Unhealthy("no channel layer is configured")
        channel = await layer.new_channel("health.")
        await layer.send(channel, {"type": "health.ping"})
        message = await asyncio.wait_for(layer.receive(channel), CHANNEL_LAYER_TIMEOUT_SECONDS)
        return message.get("type") == "health.ping"

    if not async_to_sync(round_trip)():
        raise Unhealthy("a message sent through the channel layer came back changed")
    return "round trip"


def check_storage() -> str:
    """The private outputs storage takes a file and gives it back."""
    storage = storages["outputs"]
    name = storage.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with storage.open(name) as handle:
            if handle.read() != b"ok":
                raise Unhealthy("a file written to storage did not read back")
    finally:
        storage.delete(name)
    return "write, read and delete"


@dataclass
class _WorkersSeen:
    at: float = 0.0
    queues: dict[str, set[str]] | None = None


_workers_seen = _WorkersSeen()


def _worker_queues() -> dict[str, set[str]]:
    """Which queues each live worker consumes, asked over the broker (Celery's remote control).

    Every worker that answers within the timeout is alive. The answer is kept for
    HEALTH_WORKER_CACHE_SECONDS so that many probes do not each broadcast to the workers.
    """
    fresh = time.monotonic() - _workers_seen.at < settings.HEALTH_WORKER_CACHE_SECONDS
    if fresh and _workers_seen.queues is not None:
        return _workers_seen.queues
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        inspector = celery_app.control.inspect(
            timeout=settings.HEALTH_WORKER_TIMEOUT_SECONDS, connection=conn
        )
        replies = inspector.active_queues() or {}
    queues = {worker: {queue["name"] for queue in found or []} for worker, found in replies.items()}
    _workers_seen.at, _workers_seen.queues = time.monotonic(), queues
    return queues


def forget_workers() -> None:
    """Ask the workers again at the next check (tests, and after a deployment changes them)."""
    _workers_seen.at, _workers_seen.queues = 0.0, None


def check_workers() -> str:
    """At least one live worker consumes the queue of each enabled model."""
    queues = _worker_queues()
    served = {
        spec.name: sorted(worker for worker, names in queues.items() if spec.queue in names)
        for spec in enabled_models()
    }
    unserved = [f"gpu.{name}" for name, workers in served.items() if not workers]
    if unserved:
        raise Unhealthy(f"no worker answered for queue {', '.join(unserved)}")
    return "; ".join(f"{name}: {', '.join(workers)}" for name, workers in served.items())


def check_dispatcher() -> str:
    last = dispatcher_last_beat()
    if last is None:
        raise Unhealthy("no dispatcher has ever beaten (is `manage.py dispatcher` running?)")
    age = time.time() - last
    if age > settings.DISPATCHER_HEARTBEAT_STALE_SECONDS:
        raise Unhealthy(f"the last dispatcher heartbeat is {age:.0f} s old")
    return f"beat {age:.1f} s ago"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "channel_layer": check_channel_layer,
    "storage": check_storage,
    "workers": check_workers,
    "dispatcher": check_dispatcher,
}


def _run(name: str, check: Callable[[], str]) -> CheckResult:
    started = time.monotonic()
    try:
        detail, ok = check(), True
    except Exception as exc:  # any failure of a service is a result, never a 500
        detail, ok = f"{type(exc).__name__}: {exc}"[:300], False
    return CheckResult(name, ok, detail, (time.monotonic() - started) * 1000)


def readiness() -> list[CheckResult]:
    results = [_run(name, check) for name, check in CHECKS.items()]
    if connection.connection is not None and not connection.is_usable():
        connection.close()  # a broken connection is never handed to the next request
    return results
