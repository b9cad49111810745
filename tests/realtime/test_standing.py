"""Standing at program scale (`realtime.standing`): a tester's sockets share one check, a lost
"access ended" message still closes a contained socket at the process's periodic re-check, and a
socket that hangs up leaves its channel-layer groups, even when many hang up at once.

Every communicator is hung up in a `finally` (see test_live_consumer.py for why).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from access.models import User
from generation.progress import job_event
from realtime import groups
from realtime import standing as standing_module
from realtime.consumers import STANDING_MAX_AGE_S
from realtime.layers import RedisChannelLayer
from realtime.publisher import publish
from tests.conftest import STANDINGS, run_async, websocket
from tests.factories import make_job

pytestmark = [pytest.mark.timeout(60), pytest.mark.django_db(transaction=True)]

TABS = 10


@pytest.fixture
def standing_reads(monkeypatch) -> list[set[int]]:
    """The user ids of every standing read (each one query for all of them)."""
    reads: list[set[int]] = []
    read = standing_module.users_for_standing_check

    def counted(*, ids: set[int]) -> dict[int, User]:
        reads.append(set(ids))
        return read(ids=ids)

    monkeypatch.setattr(standing_module, "users_for_standing_check", counted)
    return reads


async def _open(stack: AsyncExitStack, user, count: int) -> list:
    sockets = []
    for _ in range(count):
        socket = await stack.enter_async_context(websocket("/ws/studio/", user))
        connected, _ = await socket.connect(timeout=10)
        assert connected
        assert (await socket.receive_json_from(timeout=10))["type"] == "snapshot"
        sockets.append(socket)
    return sockets


async def _subscribers(layer, group: str, expected: int) -> int:
    """Redis's count of subscribers to `group`'s pub/sub channel, once it equals `expected` (or
    after 10 s): a SUBSCRIBE sent on the layer's connection may not have been read by Redis yet
    when the count is asked on another."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        count = await layer.subscriber_count(group)
        if count == expected or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.02)


async def _group_members(group: str, subscribers: int) -> tuple[set[str], int]:
    """The channels of this process (event loop) in `group`, and how many Redis subscribers its
    pub/sub channel has (the layer subscribes once per process, not per socket): `subscribers`
    is the count expected, waited for."""
    layer = get_channel_layer()
    name = layer._get_layer()._get_group_channel_name(group)
    members = set(layer._get_layer().groups.get(name, ()))
    return members, await _subscribers(layer, group, subscribers)


def test_one_event_to_a_testers_ten_sockets_costs_one_standing_check(
    tester, standing_reads, settings
):
    settings.SOCKET_RECHECK_SECONDS = 600  # only the event makes the sockets look
    event = job_event(make_job(tester))

    async def body():
        async with AsyncExitStack() as stack:
            sockets = await _open(stack, tester, TABS)
            # Older than a forwarded event may reuse: the event has to look again.
            await asyncio.sleep(2 * STANDING_MAX_AGE_S)
            before = len(standing_reads)
            await sync_to_async(publish)(event, groups=[groups.user_group(tester.id)])
            received = [await socket.receive_json_from(timeout=10) for socket in sockets]
            return received, standing_reads[before:]

    received, reads = run_async(body)

    assert [message["job"]["id"] for message in received] == [event.id] * TABS
    assert reads == [{tester.id}]  # one read for the ten sockets, not ten


def test_a_revoked_testers_sockets_close_at_the_periodic_recheck_without_any_message(
    tester, other_tester, standing_reads, settings
):
    settings.SOCKET_RECHECK_SECONDS = 1

    def revoke_in_the_database_only() -> None:
        User.objects.filter(pk=tester.pk).update(
            standing=User.Standing.REVOKED, standing_reason="a leak"
        )

    async def ended(socket) -> tuple[dict, dict]:
        return await socket.receive_json_from(timeout=10), await socket.receive_output(timeout=10)

    async def body():
        async with AsyncExitStack() as stack:
            mine = await _open(stack, tester, 2)
            bystander = (await _open(stack, other_tester, 1))[0]
            await database_sync_to_async(revoke_in_the_database_only)()
            closed = await asyncio.gather(*(ended(socket) for socket in mine))
            return closed, await bystander.receive_nothing(timeout=0.2)

    closed, bystander_untouched = run_async(body)

    for message, close in closed:
        assert message == {
            "type": "access_ended",
            "standing": "revoked",
            "reason": "a leak",
            "kind": "revoked",
        }
        assert close == {"type": "websocket.close", "code": 4403}
    assert bystander_untouched
    # The periodic re-checks read both testers together, one query each time.
    assert {tester.id, other_tester.id} in standing_reads


def _groups_of(user) -> list[str]:
    return [groups.user_group(user.id), groups.PROGRAM, groups.cohort_group(user.cohort_id)]


def test_hung_up_sockets_leave_their_groups(tester):
    async def body():
        async with AsyncExitStack() as stack:
            await _open(stack, tester, 3)
            joined = {group: await _group_members(group, 1) for group in _groups_of(tester)}
        left = {group: await _group_members(group, 0) for group in _groups_of(tester)}
        return joined, left

    joined, left = run_async(body)

    # This process's sockets, in memory: three in each group, then none.
    assert [len(members) for members, _ in joined.values()] == [3, 3, 3]
    assert [members for members, _ in left.values()] == [set(), set(), set()]
    # In Redis: this process subscribed to the tester's own group once, and left it. (Another
    # process of the run, an ASGI server a browser test started, may hold the program and
    # cohort groups too.)
    user_group = groups.user_group(tester.id)
    assert (joined[user_group][1], left[user_group][1]) == (1, 0)


def test_a_mass_disconnect_leaves_no_group_and_no_subscription_behind(settings):
    """Many sockets leave their groups at the same moment: none fails, the group is gone from
    the process, and Redis no longer sends the group's messages to it."""
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    layer = RedisChannelLayer(hosts=config["hosts"], prefix=f"{config['prefix']}-mass")
    group = "mass-test"

    async def body():
        channels = [await layer.new_channel() for _ in range(200)]
        await asyncio.gather(*(layer.group_add(group, channel) for channel in channels))
        loop_layer = layer._get_layer()
        group_channel = loop_layer._get_group_channel_name(group)
        before = await _subscribers(layer, group, 1)
        outcomes = await asyncio.gather(
            *(layer.group_discard(group, channel) for channel in channels),
            return_exceptions=True,
        )
        after = await _subscribers(layer, group, 0)
        in_memory = group_channel in loop_layer.groups
        await layer.flush()
        return outcomes, before, after, in_memory

    outcomes, before, after, in_memory = asyncio.run(body())

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert (before, after, in_memory) == (1, 0, False)


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        ("suspended", "suspended"),
        ("revoked", "revoked"),
        ("cohort suspended", "cohort_suspended"),
        ("program paused", "paused"),
    ],
)
def test_the_access_ended_message_names_its_cause_for_the_page_to_word(tester, cause, kind):
    STANDINGS[cause](tester)

    ended = standing_module.access_ended(User.objects.get(pk=tester.pk))

    assert ended is not None and ended.kind == kind
