"""The cache shares one Redis connection pool per process (access/cache.py).

Django keeps a cache object per asgiref context, and under ASGI every request is a context of
its own: with Django's backend every request opened a new TCP connection to Redis.
"""

from __future__ import annotations

import threading

import pytest
from django.core.cache import caches


def _redis_client_id(cache) -> int:
    return cache._cache.get_client(write=True).client_id()


def test_caches_made_for_separate_requests_reuse_one_connection():
    first, second = caches.create_connection("default"), caches.create_connection("default")
    first.set("shared-pool", 1)

    # The second object (another request's) is served by the connection the first one returned.
    assert second.get("shared-pool") == 1
    assert _redis_client_id(second) == _redis_client_id(first)


def test_requests_on_many_threads_do_not_open_a_connection_each():
    seen: set[int] = set()
    lock = threading.Lock()

    def requests() -> None:
        for _ in range(5):
            client_id = _redis_client_id(caches.create_connection("default"))
            with lock:
                seen.add(client_id)

    threads = [threading.Thread(target=requests) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # At most one connection per thread using the pool at once, not one per request (40).
    assert 1 <= len(seen) <= 8


@pytest.mark.parametrize("location", ["redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/15"])
def test_another_location_gets_its_own_pool(settings, location):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": location}}
    cache = caches.create_connection("default")

    pool = cache._cache._get_connection_pool(write=True)

    assert pool.connection_kwargs["db"] == int(location.rsplit("/", 1)[1])
