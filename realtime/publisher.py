"""The one way events leave the server for browser sockets.

`publish` never raises: live updates are best effort, the database is the truth and every socket
starts from a snapshot. Step-progress sends are throttled per key; state changes always go out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from realtime.events import Event

logger = logging.getLogger(__name__)

_last_sent: dict[str, float] = {}
SEND_TIMEOUT_S = 10  # a send stuck longer than this (Redis away) is given up and logged


class _SendLoop:
    """One event loop per process, in a daemon thread, for every send from synchronous code.

    The channel layer keeps its Redis connections per event loop. `async_to_sync` outside an ASGI
    server (the worker, the dispatcher) made a new loop, a thread and new connections for every
    send; a long-lived loop keeps one set. Made again after a fork (Celery's pool children).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="publisher", daemon=True)
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def group_send_all(self, sends: list[tuple[str, dict[str, Any]]]) -> list[BaseException | None]:
        """Every (group, message) in one hand-over to the loop, not one thread hop per group:
        the outcome of each send, in order (None when sent)."""
        sending = _send_each(get_channel_layer(), sends)
        future = asyncio.run_coroutine_threadsafe(sending, self.loop())
        try:
            return future.result(SEND_TIMEOUT_S)
        except TimeoutError:
            future.cancel()  # not left running on the loop behind the caller's back
            raise


async def _send_each(layer: Any, sends: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    outcomes: list[BaseException | None] = []
    for group, message in sends:
        try:
            await layer.group_send(group, message)
            outcomes.append(None)
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


_sender = _SendLoop()


def _throttled(key: str, *, force: bool, last: bool) -> bool:
    now = time.monotonic()
    if not force and now - _last_sent.get(key, 0.0) < settings.PROGRESS_MIN_INTERVAL_S:
        return True
    if last:
        _last_sent.pop(key, None)
    else:
        _last_sent[key] = now
    return False


def publish(
    event: Event,
    *,
    groups: Iterable[str],
    throttle_key: str = "",
    force: bool = True,
    last: bool = False,
) -> bool:
    """Send `event` to every socket in `groups`. Returns False when throttled or not sent.

    With a `throttle_key`, a non-forced send within PROGRESS_MIN_INTERVAL_S of the previous one
    for that key is dropped; `last` forgets the key (the stream ended).
    """
    if throttle_key and _throttled(throttle_key, force=force, last=last):
        return False
    return publish_all([(event, groups)])


def publish_all(sends: Iterable[tuple[Event, Iterable[str]]]) -> bool:
    """Send each event to its groups, all in one hand-over to the send loop (a submission's two
    events, the dispatcher's queue positions). Unthrottled. False if any send failed."""
    pairs = [(event, group) for event, groups in sends for group in dict.fromkeys(groups)]
    if not pairs:
        return True
    messages = {id(event): event.layer_message() for event, _ in pairs}  # once per event
    try:
        outcomes = _sender.group_send_all([(g, messages[id(e)]) for e, g in pairs])
    except Exception:  # the loop did not answer in time (Redis away)
        logger.exception("Could not publish %d event(s)", len(pairs))
        return False
    for (event, group), failure in zip(pairs, outcomes, strict=True):
        if failure is not None:
            logger.error(
                "Could not publish %s to group %s", event.layer_type, group, exc_info=failure
            )
    return all(failure is None for failure in outcomes)
