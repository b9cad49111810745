"""The pub/sub channel layer's own promises (realtime/layers.py), over the real Redis: a group send
reaches each member socket of the process once, a full socket queue drops what comes after (as
the keyed layer's capacity did), a lost subscription tells every socket, and two deployments on
different Redis databases do not hear each other."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.conf import settings

from config.env import redis_db
from realtime.layers import LOST, RedisChannelLayer

pytestmark = pytest.mark.timeout(60)


def _layer(*, capacity: int = 500, prefix: str | None = None) -> RedisChannelLayer:
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    return RedisChannelLayer(
        hosts=config["hosts"],
        prefix=prefix or f"{config['prefix']}layer-test-{uuid.uuid4().hex[:8]}.",
        capacity=capacity,
    )


async def _drain(layer, channel: str, wait: float = 0.3) -> list[dict]:
    received = []
    queue = layer._get_layer().channels[channel]
    deadline = asyncio.get_running_loop().time() + wait
    while asyncio.get_running_loop().time() < deadline:
        if queue.empty():
            await asyncio.sleep(0.02)
            continue
        received.append(layer.deserialize(queue.get_nowait()))
    return received


def test_a_group_send_reaches_every_member_once():
    layer = _layer()

    async def body():
        channels = [await layer.new_channel() for _ in range(3)]
        for channel in channels:
            await layer.group_add("g", channel)
        await layer.group_send("g", {"type": "hello", "n": 1})
        heard = [await _drain(layer, channel) for channel in channels]
        await layer.flush()
        return heard

    assert asyncio.run(body()) == [[{"type": "hello", "n": 1}]] * 3


def test_past_its_capacity_a_socket_drops_what_comes_after():
    layer = _layer(capacity=3)

    async def body():
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        for n in range(5):
            await layer.group_send("g", {"type": "hello", "n": n})
        heard = await _drain(layer, channel, wait=0.5)
        dropped = layer._get_layer().dropped
        await layer.flush()
        return heard, dropped

    heard, dropped = asyncio.run(body())

    assert [message["n"] for message in heard] == [0, 1, 2]
    assert dropped == 2


def test_losing_redis_tells_every_socket_first_whatever_it_held():
    layer = _layer(capacity=2)

    async def body():
        channels = [await layer.new_channel() for _ in range(2)]
        for channel in channels:
            await layer.group_add("g", channel)
        for n in range(2):
            await layer.group_send("g", {"type": "hello", "n": n})
        await asyncio.sleep(0.3)  # both queues full
        layer._get_layer().tell_all(LOST)
        heard = [await _drain(layer, channel) for channel in channels]
        await layer.flush()
        return heard

    assert asyncio.run(body()) == [[LOST], [LOST]]


def test_a_lost_subscription_connection_closes_the_sockets_then_recovers():
    name = f"layer-test-{uuid.uuid4().hex[:8]}"
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    layer = RedisChannelLayer(
        hosts=[{**config["hosts"][0], "client_name": name}], prefix=f"{config['prefix']}{name}."
    )

    async def body():
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        shard = layer._get_layer()._shards[0]
        # The server cuts this layer's subscription connection (and no one else's), as a Redis
        # restart would.
        [ours] = [
            client["id"]
            for client in await shard._redis.client_list(_type="pubsub")
            if client["name"] == name
        ]
        await shard._redis.client_kill_filter(_id=ours)
        first = await asyncio.wait_for(layer.receive(channel), 10)
        # Back: the subscriptions are restored and messages flow again.
        for _ in range(50):
            await layer.group_send("g", {"type": "hello"})
            try:
                second = await asyncio.wait_for(layer.receive(channel), 0.3)
                break
            except TimeoutError:
                continue
        await layer.flush()
        return first, second, shard.lost

    first, second, still_lost = asyncio.run(body())

    assert first == LOST
    assert second == {"type": "hello"}
    assert still_lost is False


def test_deployments_on_different_redis_databases_do_not_hear_each_other():
    base = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"].split(".db")[0]
    ours, theirs = (_layer(prefix=f"{base}.db{db}.") for db in (3, 4))

    async def body():
        mine, other = await ours.new_channel(), await theirs.new_channel()
        await ours.group_add("program", mine)
        await theirs.group_add("program", other)
        await ours.group_send("program", {"type": "pause"})
        heard = await _drain(ours, mine), await _drain(theirs, other)
        await ours.flush()
        await theirs.flush()
        return heard

    assert asyncio.run(body()) == ([{"type": "pause"}], [])


@pytest.mark.parametrize(
    ("url", "db"),
    [
        ("redis://127.0.0.1:6379/9", 9),
        ("redis://127.0.0.1:6379", 0),
        ("redis://:secret@cache:6379/12", 12),
        ("redis://127.0.0.1:6379?db=5", 5),
        ("rediss://cache:6380/", 0),
    ],
)
def test_the_prefix_names_the_database_of_the_url(url, db):
    assert redis_db(url) == db
