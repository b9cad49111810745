"""A socket client that sends what the server cannot read gets an error frame, never a crash.

Every endpoint extends `realtime.consumers.LiveConsumer`; a frame that is binary, not JSON, nested
deeper than `access.json_limits.MAX_DEPTH` or longer than MAX_FRAME_CHARS is answered with
`{"type": "error", "error": "<why>"}` and the socket stays open (an unhandled exception would reach
the browser as a bare 1006). Over the real Redis channel layer, through the real ASGI application.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from access.models import User
from config.asgi import application
from realtime.consumers import MAX_FRAME_CHARS
from tests.factories import make_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

ORIGIN = (b"origin", b"http://127.0.0.1:8000")

# name -> (the frame, as the ASGI server hands it on; words the error frame must contain)
BAD_FRAMES: dict[str, tuple[dict[str, Any], str]] = {
    "not JSON": ({"text": "{this is not json"}, "Not valid JSON"),
    "binary": ({"bytes": b"\x00\xff\x00"}, "Binary frames are not accepted"),
    "empty binary": ({"bytes": b""}, "Binary frames are not accepted"),
    "nested 2,000 deep": ({"text": "[" * 2000 + "]" * 2000}, "nested deeper than 32"),
    "NaN": ({"text": "NaN"}, "NaN is not a JSON number"),
    "empty": ({"text": ""}, "Not valid JSON"),
    "too long": ({"text": "[" + "1," * MAX_FRAME_CHARS + "1]"}, "Frames are limited"),
}
HELLO = {"text": '{"type": "hello"}'}


async def _live(path: str, user: User) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN])
    communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    return communicator


async def _answers(path: str, user: User, frames: list[dict[str, Any]]) -> list[Any]:
    """What the socket answers to each frame in turn (None: nothing), and whether it is still
    open and answering at the end."""
    communicator = await _live(path, user)
    try:
        answers: list[Any] = []
        for frame in frames:
            await communicator.send_input({"type": "websocket.receive", **frame})
            if await communicator.receive_nothing(timeout=0.5):
                answers.append(None)
            else:
                answers.append(await communicator.receive_json_from(timeout=5))
        return answers
    finally:
        await communicator.disconnect(timeout=5)
        await database_sync_to_async(connections.close_all)()


@pytest.fixture
def endpoints(tester, reviewer) -> dict[str, tuple[str, User]]:
    job = make_job(tester)
    return {
        "studio": ("/ws/studio/", tester),
        "job": (f"/ws/jobs/{job.id}/", tester),
        "review": ("/ws/review/", reviewer),
    }


@pytest.mark.parametrize("endpoint", ["studio", "job", "review"])
def test_every_unreadable_frame_gets_an_error_frame_and_the_socket_stays_open(endpoints, endpoint):
    path, user = endpoints[endpoint]
    frames = [frame for frame, _ in BAD_FRAMES.values()]

    answers = asyncio.run(_answers(path, user, [*frames, HELLO]))

    for (name, (_, words)), answer in zip(BAD_FRAMES.items(), answers, strict=False):
        assert answer is not None, f"{name}: no answer"
        assert answer["type"] == "error" and words in answer["error"], (name, answer)
    assert answers[-1] is None  # a readable frame is still just a reason to re-check standing


def test_a_flood_of_bad_frames_leaves_the_socket_answering(endpoints):
    path, user = endpoints["studio"]
    frames = [BAD_FRAMES["binary"][0], BAD_FRAMES["nested 2,000 deep"][0]] * 20

    answers = asyncio.run(_answers(path, user, frames))

    assert [answer["type"] for answer in answers] == ["error"] * 40
