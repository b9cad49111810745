"""Django's Redis cache with one connection pool per process, not one per request.

Django keeps a cache object per asgiref context (`caches` is a `Local`), and its Redis client
makes its connection pool lazily per object. Under ASGI every request runs in a context of its own,
so each request built a pool and opened a new TCP connection to Redis (redis-py then also reads
its own package metadata for the connection's client name): the API's two rate throttles paid for
that on every call. Here the pools live in the process, keyed by URL and options, so requests and
threads share their connections (`access.redis_pool`, which `redis_client` uses too).
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

from access.redis_pool import connection_pool


class SharedPoolRedisCacheClient(RedisCacheClient):
    # Set by Django's RedisCacheClient.__init__ (private, so not in django-stubs).
    _servers: list[str]
    _pool_class: Any
    _pool_options: dict[str, Any]
    _get_connection_pool_index: Any

    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        return connection_pool(self._servers[index], self._pool_class, **self._pool_options)


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
