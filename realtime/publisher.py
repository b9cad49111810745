"""The one way events leave the server for browser sockets.

`publish` never raises: live updates are best effort, the database is the truth and every socket
starts from a snapshot. Step-progress sends are throttled per key; state changes always go out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from realtime.events import Event

logger = logging.getLogger(__name__)

_last_sent: dict[str, float] = {}


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
    message = event.layer_message()
    send = async_to_sync(get_channel_layer().group_send)
    sent = True
    for group in dict.fromkeys(groups):
        try:
            send(group, message)
        except Exception:
            logger.exception("Could not publish %s to group %s", event.layer_type, group)
            sent = False
    return sent
