"""The channel layer: Redis pub/sub, fanned out inside each web process.

Until 2026-12-01 this was channels-redis's core layer, which keeps a Redis queue per socket: a
group send wrote one message per member socket, and the receiving process popped each with its
own round trip (`BZPOPMIN`). A job event for each of 100 testers with 10 tabs open cost 1,000
round trips and about a second of server CPU (docs/benchmarks.md). Here a group send is one
`PUBLISH`; each process subscribed to the group gets it once and hands it to its own sockets in
memory (channels-redis's `RedisPubSubChannelLayer`).

Pub/sub keeps nothing, so this module keeps the promises the core layer kept:

- **Capacity.** Each socket's queue holds at most `capacity` messages (500); past that, new
  messages to it are dropped, as the core layer's group send dropped them past its capacity.
- **Outages.** Whatever is published while a process is cut off from Redis is lost to that
  process. So when the process's subscription connection fails, each of its sockets is told
  (`layer.lost`) and closes with 1012, "server restarting": the page reconnects with backoff and
  starts again from a snapshot once Redis is back (a socket cannot open without Redis: its
  subscription fails). The subscriptions come back by themselves when Redis does. One warning
  per outage and one line when it ends, not a traceback a second.
- **Groups** live in each process's memory: a mass disconnect leaves no Redis keys behind, and
  leaving a group while Redis is away still leaves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

LOST = {"type": "layer.lost"}  # handled by realtime.consumers.LiveConsumer.layer_lost
DEFAULT_CAPACITY = 500
IDLE_WAIT_S = 1.0


class _Shard(RedisSingleShardConnection):
    """One Redis host's publish and subscription connections, for one event loop."""

    channel_layer: _LoopLayer

    def __init__(self, host: dict[str, Any], channel_layer: _LoopLayer) -> None:
        super().__init__(host, channel_layer)
        self.lost = False

    async def _do_receiving(self) -> None:
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    # A message returns at once; the timeout only bounds an idle wait (a
                    # thousand quiet sockets cost one wake-up a second per process, not ten).
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=IDLE_WAIT_S
                    )
                    if self.lost:
                        self.lost = False
                        logger.warning("Redis is back: the sockets' subscriptions are restored")
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if not self.lost:
                    self.lost = True
                    logger.warning(
                        "Lost Redis (%s); closing this process's sockets so they reconnect", exc
                    )
                    self.channel_layer.tell_all(LOST)
                await asyncio.sleep(1)

    def _receive_message(self, message: dict[str, Any] | None) -> None:
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        members = [name] if name in layer.channels else layer.groups.get(name, ())
        for channel in members:
            layer.deliver(channel, message["data"])


class _LoopLayer(RedisPubSubLoopLayer):
    """One event loop's channels and groups (see the module docstring)."""

    channels: dict[str, asyncio.Queue[bytes]]
    groups: dict[str, set[str]]

    def __init__(
        self,
        hosts: Any = None,
        prefix: str = "asgi",
        capacity: int = DEFAULT_CAPACITY,
        **kwargs: Any,
    ) -> None:
        super().__init__(hosts, prefix, **kwargs)
        self.capacity = capacity
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]
        self.dropped = 0  # messages dropped at a full socket queue (tests look)

    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = asyncio.Queue(maxsize=self.capacity)
        try:
            await self._get_shard(channel).subscribe(channel)
        except BaseException:
            self.channels.pop(channel, None)
            raise

    def deliver(self, channel: str, data: bytes) -> None:
        queue = self.channels.get(channel)
        if queue is None:
            return
        try:
            queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1

    def tell_all(self, message: dict[str, Any]) -> None:
        """Put `message` first in line for every channel of this loop (a full queue is emptied:
        what it held can no longer be trusted to be complete)."""
        data = self.channel_layer.serialize(message)
        for queue in self.channels.values():
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(data)

    async def receive(self, channel: str) -> Any:
        """As channels-redis's, without a traceback when the unsubscription after a cancelled
        receive fails because Redis is away (a thousand sockets closing in an outage)."""
        if channel not in self.channels:
            await self._subscribe_to_channel(channel)
        queue = self.channels[channel]
        try:
            message = await queue.get()
        except (TimeoutError, asyncio.CancelledError, GeneratorExit):
            if self.channels.pop(channel, None) is not None:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await self._get_shard(channel).unsubscribe(channel)
            raise
        return self.channel_layer.deserialize(message)

    async def group_discard(self, group: str, channel: str) -> None:
        """channels-redis leaves the group in memory first; the Redis unsubscription (once the
        group has no member here) is best effort: if Redis is away, the stale subscription is
        restored with the others and its messages find no member."""
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await super().group_discard(group, channel)


class RedisChannelLayer(RedisPubSubChannelLayer):
    """CONFIG: `hosts` (dicts with an `address` URL and redis-py connection options), `prefix`,
    `capacity` (messages a socket's queue holds)."""

    def _get_layer(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer

    async def subscriber_count(self, group: str) -> int:
        """How many connections Redis sends `group`'s messages to: one per web process that has a
        member socket (not one per socket), 0 once they have all left. For benches and tests."""
        layer = self._get_layer()
        name = layer._get_group_channel_name(group)
        shard = layer._get_shard(name)
        shard._ensure_redis()
        return int(dict(await shard._redis.pubsub_numsub(name))[name.encode()])
