"""Services a fault test may kill: its own Redis, never the machine's shared one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from scripts.private_redis import PrivateRedis


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.kill()


def session_cookie(user) -> str:
    """A real session for `user`, known to allauth's usersessions too, as a browser would hold."""
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    client.get("/studio/")
    return client.cookies["sessionid"].value
