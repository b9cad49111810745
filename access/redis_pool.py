"""One Redis client (and so one connection pool) per process and URL.

redis-py clients are thread-safe and pool their connections; building one per call (as a
`Redis.from_url` inside a function does) opens a new TCP connection every time. Tests that point
settings at another Redis get a client of their own, because the URL is the key.
"""

from __future__ import annotations

from functools import lru_cache

import redis

SOCKET_TIMEOUT_SECONDS = 5


@lru_cache(maxsize=8)
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
