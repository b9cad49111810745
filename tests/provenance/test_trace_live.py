"""A leak trace's page hears the trace live (`/ws/traces/<id>/`): each read as it starts, then
the end; only people who may trace hear it, and only while they may."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group

from access.models import User
from access.roles import LEAK_RESPONSE, role_grant
from generation.marks import mark_frames
from provenance.models import Trace
from provenance.services import trace_run
from tests.conftest import run_async, socket_outcome, totp_enable, websocket
from tests.provenance.conftest import textured_clip, write_clip

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def responder(make_user) -> User:
    user = make_user("lena@vernissage.local")
    role_grant(user=user, role=LEAK_RESPONSE)
    totp_enable(user)
    return User.objects.get(pk=user.pk)


@pytest.fixture
def queued(outputs_dir, admin) -> Trace:
    """A trace of a marked clip, queued (as an upload leaves it)."""
    frames, _ = mark_frames(textured_clip(seed=1))
    folder = Path(outputs_dir, "traces")
    folder.mkdir()
    video = write_clip(frames, folder, "suspect.mp4")
    return Trace.objects.create(
        requested_by=admin,
        file_name="traces/suspect.mp4",
        original_name="suspect.mp4",
        size_bytes=video.stat().st_size,
        sha256="0" * 64,
    )


async def _hear_the_trace(trace: Trace, user: User) -> list[dict]:
    """Open the trace's socket as `user`, run the trace, and collect what the socket hears
    until its final event."""
    async with websocket(f"/ws/traces/{trace.id}/", user) as socket:
        connected, _ = await socket.connect(timeout=5)
        assert connected
        heard = [await socket.receive_json_from(timeout=5)]
        ran = database_sync_to_async(trace_run)(trace_id=trace.id)
        await ran
        while not heard[-1].get("trace", {}).get("final"):
            heard.append(await socket.receive_json_from(timeout=10))
        return heard


def test_a_responder_hears_each_read_and_the_end(queued, responder):
    heard = run_async(lambda: _hear_the_trace(queued, responder))

    snapshot, *events = heard
    assert snapshot == {
        "type": "snapshot",
        "trace": {
            "id": str(queued.id),
            "state": "queued",
            "state_label": "Queued",
            "stage": "",
            "final": False,
        },
    }
    stages = [event["trace"]["stage"] for event in events[:-1]]
    assert stages[:3] == [
        "Indexing outputs new since the last trace",
        "Decoding the file",
        "Checking the content credentials (C2PA)",
    ]
    assert "Reading the mark from the mean of the frames" in stages
    assert {event["trace"]["state"] for event in events[:-1]} == {"running"}
    assert events[-1]["trace"] == {
        "id": str(queued.id),
        "state": "done",
        "state_label": "Done",
        "stage": "",
        "final": True,
    }
    queued.refresh_from_db()
    assert queued.result["watermark"]["found"]  # what the page shows once it reloads


def _take_the_role(user: User) -> None:
    user.groups.remove(Group.objects.get(name=LEAK_RESPONSE))


async def _revoked_hears(trace: Trace, user: User) -> list[dict]:
    async with websocket(f"/ws/traces/{trace.id}/", user) as socket:
        connected, _ = await socket.connect(timeout=5)
        assert connected
        heard = [await socket.receive_json_from(timeout=5)]
        await database_sync_to_async(_take_the_role)(user)
        await database_sync_to_async(trace_run)(trace_id=trace.id)
        while not await socket.receive_nothing(timeout=1):
            output = await socket.receive_output(timeout=1)
            if output["type"] == "websocket.close":
                heard.append({"closed": output.get("code")})
                break
            heard.append(json.loads(output["text"]))
        return heard


def test_a_responder_whose_role_is_taken_away_hears_nothing_more(queued, responder):
    heard = run_async(lambda: _revoked_hears(queued, responder))

    assert heard[0]["type"] == "snapshot"
    assert not [message for message in heard[1:] if message.get("type") == "trace"], heard


@pytest.mark.parametrize("who", ["tester", "reviewer"])
def test_people_who_may_not_trace_cannot_watch_one(queued, who, request):
    user = request.getfixturevalue(who)

    connected, code, _ = run_async(lambda: socket_outcome(f"/ws/traces/{queued.id}/", user))

    assert not connected and code == 4404


def test_a_trace_that_does_not_exist_is_a_4404(responder):
    path = "/ws/traces/00000000-0000-0000-0000-000000000000/"

    connected, code, _ = run_async(lambda: socket_outcome(path, responder))

    assert not connected and code == 4404
