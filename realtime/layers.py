"""The channel layer: channels-redis, with a Redis connection pool that waits instead of failing.

channels-redis gives each event loop a redis-py pool that raises `MaxConnectionsError` once every
connection is busy (100 by default). One process holding 1,000 sockets asks for more than that at
once when they all hang up (a group_discard per group per socket, 3,000 at once): thousands of
discards failed and their channels stayed in the groups. A blocking pool lends the same bounded set
of connections in turn; each command holds one for well under a millisecond.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class RedisChannelLayer(_RedisChannelLayer):
    """Hosts are dicts with an `address` URL; the other keys are the pool's (`max_connections`,
    `timeout`: seconds to wait for a free connection) and its connections' (`socket_timeout`)."""

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)
