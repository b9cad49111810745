"""One Redis connection pool per process, URL and options.

redis-py clients are thread-safe and pool their connections; building one per call (as a
`Redis.from_url` inside a function does) opens a new TCP connection every time. Our own clients
take their pools from here: `redis_client` below and the cache backend (`access.cache`); the
channel layer and Celery keep theirs, and the health check opens a fresh connection on purpose.
Tests that point settings at another Redis get pools of their own: the URL is part of the key.
redis-py pools reset themselves after a fork, so a forked worker child does not share sockets.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import redis

SOCKET_TIMEOUT_SECONDS = 5

_pools: dict[tuple[str, Any, str], Any] = {}
_lock = threading.Lock()


def connection_pool(url: str, pool_class: Any = redis.ConnectionPool, **options: Any) -> Any:
    """The process's pool for `url` with these options, made on first use."""
    key = (url, pool_class, repr(sorted(options.items())))
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = pool_class.from_url(url, **options)
    return pool


@lru_cache(maxsize=8)
def redis_client(url: str) -> redis.Redis:
    pool = connection_pool(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)
