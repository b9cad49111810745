"""The protocol every socket endpoint shares (`realtime.consumers.LiveConsumer`), over the real
Redis channel layer: refusals are accepted then closed with our codes, a live socket starts with a
snapshot, events reach the sockets allowed to see them, and a socket whose user may no longer see
them is closed at the next event.

Every communicator is hung up in a `finally` and the consumers' database connections are closed: a
consumer left running (its channel-layer receive pending) once made `asyncio.run` hang for twenty
minutes.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Group

from access.models import User
from access.roles import REVIEWERS
from containment.services import tester_suspend as suspend
from generation.progress import job_event, publish_job
from realtime import groups
from realtime.events import ReviewItemEvent
from realtime.publisher import publish
from tests.conftest import run_async, websocket
from tests.factories import make_job

pytestmark = [pytest.mark.timeout(60), pytest.mark.django_db(transaction=True)]

ENDPOINTS = ("studio", "job", "review")


def _path(endpoint: str, job_id: object = None) -> str:
    return {"studio": "/ws/studio/", "job": f"/ws/jobs/{job_id}/", "review": "/ws/review/"}[
        endpoint
    ]


async def _until_closed(socket: WebsocketCommunicator) -> tuple[list[dict], int]:
    """Every message before the server's close frame, and the close code."""
    messages = []
    while True:
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return messages, output["code"]
        messages.append(json.loads(output["text"]))


def _refusal(path: str, user) -> tuple[bool, list[dict], int]:
    """(accepted, messages, close code) of a socket the server refuses."""

    async def body():
        async with websocket(path, user) as socket:
            accepted, _ = await socket.connect(timeout=5)
            return (accepted, *await _until_closed(socket))

    return run_async(body)


@pytest.fixture
def suspended(make_user) -> User:
    user = make_user("sam@example.com")
    suspend(tester=user, by=None, reason="a leak")
    return User.objects.get(pk=user.pk)


@pytest.fixture
def no_periodic_recheck(settings) -> None:
    """Only an event or a message may make these sockets look again (not the 10 s re-check)."""
    settings.SOCKET_RECHECK_SECONDS = 600


# --- refusals: accepted, then closed with a code the browser acts on ------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_anonymous_socket_is_accepted_then_closed_with_4401(tester, endpoint):
    job = make_job(tester)

    accepted, messages, code = _refusal(_path(endpoint, job.id), AnonymousUser())

    assert (accepted, messages, code) == (True, [], 4401)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_suspended_tester_is_told_access_ended_then_closed_with_4403(suspended, endpoint):
    job = make_job(suspended)

    accepted, messages, code = _refusal(_path(endpoint, job.id), suspended)

    assert accepted is True
    assert messages == [
        {"type": "access_ended", "standing": "suspended", "reason": "a leak", "kind": "suspended"}
    ]
    assert code == 4403


def test_a_job_of_someone_else_is_closed_with_4404(tester, other_tester):
    job = make_job(tester)

    accepted, messages, code = _refusal(_path("job", job.id), other_tester)

    assert (accepted, messages, code) == (True, [], 4404)


def test_a_job_that_does_not_exist_is_closed_with_4404(tester):
    accepted, messages, code = _refusal(_path("job", uuid.uuid4()), tester)

    assert (accepted, messages, code) == (True, [], 4404)


def test_a_tester_on_the_review_socket_is_closed_with_4403(tester):
    accepted, messages, code = _refusal(_path("review"), tester)

    assert accepted is True
    assert messages == []  # a missing role is not access ending: nothing to tell the page
    assert code == 4403


# --- a live socket -------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_first_message_of_a_live_socket_is_the_snapshot(tester, reviewer, endpoint):
    job = make_job(tester)
    user = reviewer if endpoint == "review" else tester

    async def body():
        async with websocket(_path(endpoint, job.id), user) as socket:
            connected, _ = await socket.connect(timeout=5)
            return connected, await socket.receive_json_from(timeout=5)

    connected, first = run_async(body)

    assert connected is True
    assert first["type"] == "snapshot"
    if endpoint == "review":
        assert first == {"type": "snapshot"}
    else:
        assert [item["id"] for item in first["jobs"]] == [str(job.id)]
        assert first["jobs"][0]["state"] == "queued"


def test_a_published_review_item_reaches_an_open_review_socket(reviewer):
    event = ReviewItemEvent(
        id=str(uuid.uuid4()), state="pending", claimed_by="otto@vernissage.local", approvals=1
    )

    async def body():
        async with websocket(_path("review"), reviewer) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            await sync_to_async(publish)(event, groups=[groups.REVIEWERS])
            return await socket.receive_json_from(timeout=5)

    received = run_async(body)

    assert received == {
        "type": "review",
        "item": {
            "id": event.id,
            "state": "pending",
            "claimed_by": "otto@vernissage.local",
            "approvals": 1,
        },
    }


def test_a_job_socket_hears_its_jobs_updates(tester):
    job = make_job(tester)

    async def body():
        async with websocket(_path("job", job.id), tester) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            await database_sync_to_async(publish_job)(job)
            return await socket.receive_json_from(timeout=5)

    received = run_async(body)

    assert received["type"] == "job"
    assert (received["job"]["id"], received["job"]["state"]) == (str(job.id), "queued")


def test_forwarding_an_event_does_not_queue_on_the_sync_thread(tester, monkeypatch):
    """channels' own dispatch runs `close_old_connections` in asgiref's one sync thread before
    every message: 1,000 sockets hearing one event each queued 1,000 hops there, one after
    another. Ours forwards events on the event loop alone."""
    job = make_job(tester)
    hops = []

    async def counted() -> None:
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counted)

    async def body():
        async with websocket(_path("studio"), tester) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            for _ in range(3):
                await database_sync_to_async(publish_job)(job)
            return [await socket.receive_json_from(timeout=5) for _ in range(3)]

    received = run_async(body)

    assert [message["job"]["id"] for message in received] == [str(job.id)] * 3
    assert hops == []


def test_a_studio_socket_never_hears_another_testers_job(tester, other_tester):
    theirs = job_event(make_job(other_tester))
    mine = make_job(tester)

    async def body():
        async with websocket(_path("studio"), tester) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            # Theirs is addressed to this socket's own user group: only may_forward stops it.
            await sync_to_async(publish)(theirs, groups=[groups.user_group(tester.id)])
            await database_sync_to_async(publish_job)(mine)
            return await socket.receive_json_from(timeout=5), await socket.receive_nothing(0.2)

    received, nothing_else = run_async(body)

    assert received["job"]["id"] == str(mine.id)
    assert nothing_else


def test_a_reviewer_who_loses_the_reviewers_group_is_closed_at_once_and_hears_nothing_after(
    reviewer, no_periodic_recheck
):
    """The role change is pushed (`standing.changed`): the socket closes without waiting for an
    event, and an event published right after the change never reaches it (the cached standing,
    younger than STANDING_MAX_AGE_S, is not trusted)."""
    event = ReviewItemEvent(id=str(uuid.uuid4()), state="pending", claimed_by="", approvals=0)

    def lose_the_role() -> None:
        reviewer.groups.remove(Group.objects.get(name=REVIEWERS))

    async def body():
        async with websocket(_path("review"), reviewer) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            await database_sync_to_async(lose_the_role)()
            await sync_to_async(publish)(event, groups=[groups.REVIEWERS])
            return await _until_closed(socket)

    messages, code = run_async(body)

    assert messages == []  # not the item, and no "access ended": only the role went
    assert code == 4403


def test_a_role_taken_away_without_the_push_still_closes_the_socket_at_the_next_event(
    reviewer, no_periodic_recheck
):
    """The safety net when `standing.changed` is lost: a row deleted behind the signals' back
    (no m2m_changed) is noticed by the standing check of the next event."""
    event = ReviewItemEvent(id=str(uuid.uuid4()), state="pending", claimed_by="", approvals=0)

    def lose_the_role_silently() -> None:
        User.groups.through.objects.filter(user=reviewer, group__name=REVIEWERS).delete()

    async def body():
        async with websocket(_path("review"), reviewer) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            await database_sync_to_async(lose_the_role_silently)()
            quiet = await socket.receive_nothing(0.3)  # nothing happens until the next event
            await sync_to_async(publish)(event, groups=[groups.REVIEWERS])
            return quiet, *await _until_closed(socket)

    quiet, messages, code = run_async(body)

    assert quiet
    assert messages == []
    assert code == 4403


# --- hanging up: a consumer ends with its client ------------------------------------------------


async def _finishes_after_hang_up(socket, within: float = 2.0) -> bool:
    """Hang up as a browser does, and tell whether the consumer has ended `within` seconds later
    (a consumer that outlives its client keeps polling the channel layer for ever)."""
    await socket.send_input({"type": "websocket.disconnect", "code": 1000})
    done, _ = await asyncio.wait([socket.future], timeout=within)
    return bool(done)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_live_socket_ends_when_its_client_hangs_up(tester, reviewer, endpoint):
    job = make_job(tester)
    user = reviewer if endpoint == "review" else tester

    async def body():
        async with websocket(_path(endpoint, job.id), user) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            return await _finishes_after_hang_up(socket)

    assert run_async(body) is True


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_refused_anonymous_socket_ends_when_its_client_hangs_up(tester, endpoint):
    job = make_job(tester)

    async def attempt():
        async with websocket(_path(endpoint, job.id), AnonymousUser()) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_output(timeout=5))["code"] == 4401
            return await _finishes_after_hang_up(socket)

    # A few tries: whether the consumer's channel-layer receive is caught mid-start is a matter of
    # milliseconds, and every refused socket must end.
    for number in (1, 2, 3):
        assert run_async(attempt), f"try {number}: the refused consumer outlived its client"
