"""Redis away and back: open sockets end (the page's client reconnects with backoff), a socket
cannot be opened while Redis is down, and one opens again, with its snapshot, once it is back:
no server restart needed. The server's channel layer and cache point at a private Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.conftest import ManagedProcess, _free_port, server_command
from tests.faults.conftest import session_cookie

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
    pytest.mark.postgres_pass,  # fault injection runs once per CI run
]


async def _open(port: int, cookie: str):
    return await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/studio/",
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"},
        open_timeout=20,
    )


async def _first_message(port: int, cookie: str) -> dict | None:
    """The first message of a new socket, or None when the server closes or refuses it."""
    try:
        ws = await _open(port, cookie)
    except (OSError, websockets.InvalidHandshake):
        return None
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), 20))
    except websockets.ConnectionClosed:
        return None
    finally:
        await ws.close()


async def _outage(port: int, cookie: str, redis) -> tuple:
    ws = await _open(port, cookie)
    before = json.loads(await asyncio.wait_for(ws.recv(), 20))["type"]
    redis.kill()
    try:
        await asyncio.wait_for(ws.recv(), 60)
        ended = False
    except websockets.ConnectionClosed:
        ended = True
    during = await _first_message(port, cookie)
    redis.start()
    after = None
    for _ in range(20):  # like the page's client: retry until the server takes it again
        after = await _first_message(port, cookie)
        if after is not None:
            break
        await asyncio.sleep(0.5)
    return before, ended, during, after


def test_sockets_come_back_by_themselves_when_redis_returns(
    tester, stack_env, artifacts_dir, private_redis
):
    env = {**stack_env, "REDIS_URL": private_redis.url, "CELERY_BROKER_URL": private_redis.url}
    port = _free_port()
    server = ManagedProcess(
        "asgi-redis-outage", server_command(port), env, artifacts_dir / f"redis-outage-{port}.log"
    )
    try:
        server.wait_for_output("Application startup complete", timeout=60)
        before, ended, during, after = asyncio.run(
            _outage(port, session_cookie(tester), private_redis)
        )
        assert before == "snapshot"
        assert ended, "the open socket outlived the channel layer"
        assert during is None or during.get("type") != "snapshot", during
        assert after is not None and after["type"] == "snapshot", server.output()[-2000:]
        assert server.process.poll() is None  # the same server process throughout
    finally:
        server.stop()
