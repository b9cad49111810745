"""`realtime.publisher.publish`: the one way events leave the server, throttled per key.

What a group receives is read back from the real Redis channel layer; only the clock is ours.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from realtime import publisher
from realtime.events import ReviewItemEvent
from realtime.publisher import publish

pytestmark = pytest.mark.timeout(60)

INTERVAL = 0.5  # PROGRESS_MIN_INTERVAL_S in these tests


class Clock:
    """`time.monotonic` as the publisher sees it, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, settings) -> Clock:
    settings.PROGRESS_MIN_INTERVAL_S = INTERVAL
    clock = Clock()
    monkeypatch.setattr(publisher, "time", SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(publisher, "_last_sent", {})
    return clock


def _event(step: int) -> ReviewItemEvent:
    return ReviewItemEvent(id="item", state="pending", claimed_by="", approvals=step)


def _heard(sends) -> tuple[list[bool], list[int]]:
    """Run `sends` (a function that publishes to the group it is given) with one channel listening
    to that group; returns what `publish` answered and the steps the channel received, in order."""

    async def main():
        layer = get_channel_layer()
        group, channel = f"test.{uuid.uuid4().hex}", await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            answers = await sync_to_async(sends)(group)
            received = []
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), timeout=0.3)
                except TimeoutError:
                    return answers, received
                received.append(message["payload"]["approvals"])
        finally:
            await layer.group_discard(group, channel)

    return asyncio.run(main())


def test_non_forced_sends_within_the_interval_are_dropped(clock):
    def sends(group):
        answers = [publish(_event(1), groups=[group], throttle_key="k", force=False)]
        clock.now += INTERVAL / 2
        answers.append(publish(_event(2), groups=[group], throttle_key="k", force=False))
        clock.now += INTERVAL / 4
        answers.append(publish(_event(3), groups=[group], throttle_key="k", force=False))
        return answers

    answers, received = _heard(sends)

    assert answers == [True, False, False]
    assert received == [1]


def test_a_non_forced_send_goes_out_once_the_interval_has_passed(clock):
    def sends(group):
        answers = [publish(_event(1), groups=[group], throttle_key="k", force=False)]
        clock.now += INTERVAL
        answers.append(publish(_event(2), groups=[group], throttle_key="k", force=False))
        return answers

    answers, received = _heard(sends)

    assert answers == [True, True]
    assert received == [1, 2]


def test_forced_sends_always_go_out(clock):
    def sends(group):
        answers = [publish(_event(1), groups=[group], throttle_key="k", force=False)]
        for step in (2, 3):
            answers.append(publish(_event(step), groups=[group], throttle_key="k", force=True))
        return answers

    answers, received = _heard(sends)

    assert answers == [True, True, True]
    assert received == [1, 2, 3]


def test_the_last_send_always_goes_out_and_ends_the_stream(clock):
    def sends(group):
        answers = [publish(_event(1), groups=[group], throttle_key="k", force=False)]
        answers.append(publish(_event(2), groups=[group], throttle_key="k", last=True))
        # A new stream under the same key starts afresh: its first send is not throttled.
        answers.append(publish(_event(3), groups=[group], throttle_key="k", force=False))
        return answers

    answers, received = _heard(sends)

    assert answers == [True, True, True]
    assert received == [1, 2, 3]


def test_keys_are_throttled_independently(clock):
    def sends(group):
        return [
            publish(_event(1), groups=[group], throttle_key="job:a", force=False),
            publish(_event(2), groups=[group], throttle_key="job:b", force=False),
            publish(_event(3), groups=[group], throttle_key="job:a", force=False),
        ]

    answers, received = _heard(sends)

    assert answers == [True, True, False]
    assert received == [1, 2]


def test_sends_without_a_throttle_key_are_never_throttled(clock):
    def sends(group):
        return [publish(_event(step), groups=[group], force=False) for step in (1, 2, 3)]

    answers, received = _heard(sends)

    assert answers == [True, True, True]
    assert received == [1, 2, 3]


def test_every_send_of_a_process_goes_through_one_long_lived_loop(monkeypatch):
    """The channel layer keeps Redis connections per event loop: one loop for every send keeps
    one set (a new loop per send opened new connections each time). A forked child makes its
    own, since its parent's loop thread did not come along."""
    before = len(get_channel_layer()._layers)
    publish(_event(1), groups=["test.one-loop"])
    loop = publisher._sender.loop()
    publish(_event(2), groups=["test.one-loop"])
    publish(_event(3), groups=["test.one-loop"])

    assert publisher._sender.loop() is loop and loop.is_running()
    assert len(get_channel_layer()._layers) <= before + 1
    monkeypatch.setattr(publisher.os, "getpid", lambda: -1)  # as seen from a forked child
    assert publisher._sender.loop() is not loop


def test_a_send_stuck_past_its_timeout_is_given_up_and_cancelled(monkeypatch, caplog):
    """Redis hanging (not refusing): the caller waits SEND_TIMEOUT_S at most, gets False, and the
    stuck send does not stay behind on the loop."""
    cancelled = threading.Event()

    class Hanging:
        async def group_send(self, group, message):
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    monkeypatch.setattr(publisher, "SEND_TIMEOUT_S", 0.2)
    monkeypatch.setattr(publisher, "get_channel_layer", Hanging)

    assert publish(_event(1), groups=["test.stuck"]) is False
    assert cancelled.wait(10)
    assert "Could not publish" in caplog.text
