"""A real Celery worker runs real tiny-pipeline jobs; progress arrives over Redis channels."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.storage import storages

from generation.models import Job
from generation.pipeline.video import probe_video
from review.models import Output
from tests.conftest import run_async, websocket
from tests.factories import submit_job

# The worker's startup (a session fixture) is not counted; each job waits up to 60 s by itself.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120, func_only=True),
    pytest.mark.usefixtures("running_dispatcher"),
]


def _submit(owner, **overrides) -> Job:
    return submit_job(owner, **{"prompt": "a paper boat in a storm", "steps": 6, **overrides})


def _wait_final(job: Job, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_final:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job stayed {job.state} for {timeout} s")


@asynccontextmanager
async def _live(path: str, user) -> AsyncIterator[WebsocketCommunicator]:
    """A connected socket as `user`, hung up on leaving the block whatever happened."""
    async with websocket(path, user) as communicator:
        connected, _ = await communicator.connect()
        assert connected
        yield communicator


async def _collect_until_final(communicator, job_id: str, timeout: float = 60) -> list[dict]:
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await communicator.receive_json_from(timeout=deadline - time.monotonic())
        if message["type"] == "job" and message["job"]["id"] == job_id:
            events.append(message["job"])
            if message["job"]["state"] in ("succeeded", "failed", "cancelled"):
                return events
    raise AssertionError(f"no final event; got {events}")


def test_worker_runs_a_job_and_streams_progress_to_the_owners_socket(
    tester, celery_worker, outputs_dir
):
    async def scenario():
        async with _live("/ws/studio/", tester) as communicator:
            snapshot = await communicator.receive_json_from(timeout=10)
            assert snapshot == {"type": "snapshot", "jobs": []}
            job = await sync_to_async(_submit)(tester)
            return job, await _collect_until_final(communicator, str(job.id))

    job, events = run_async(scenario)

    states = [event["state"] for event in events]
    assert states[0] == "queued" and states[-1] == "succeeded"
    assert "running" in states
    running_steps = [e["step"] for e in events if e["state"] == "running"]
    assert running_steps == sorted(running_steps) and running_steps[-1] == 6
    assert all(e["total_steps"] == 6 for e in events)
    assert events[-1]["percent"] == 100
    assert events[-1]["output"]["state"] == "pending"

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.attempt == 1
    output = Output.objects.get(job=job)
    assert output.state == Output.State.PENDING
    probe = probe_video(storages["outputs"].path(output.video_name))
    assert (probe.codec, probe.pix_fmt, probe.faststart) == ("h264", "yuv420p", True)
    assert (probe.width, probe.height) == (job.width, job.height)
    assert storages["outputs"].exists(output.poster_name)


def test_the_worker_keeps_its_pipeline_loaded_between_jobs(tester, celery_worker, outputs_dir):
    first, second = _submit(tester, seed=1), _submit(tester, seed=2)

    assert _wait_final(first).state == Job.State.SUCCEEDED
    assert _wait_final(second).state == Job.State.SUCCEEDED
    # One worker child served every job of the session so far: it loaded the model once.
    assert celery_worker.output().count("Loaded pipeline demo") == 1


def test_a_reconnecting_socket_gets_the_current_state_first(tester, celery_worker, outputs_dir):
    job = _wait_final(_submit(tester))

    async def reconnect():
        async with _live("/ws/studio/", tester) as communicator:
            return await communicator.receive_json_from(timeout=10)

    snapshot = run_async(reconnect)

    assert snapshot["type"] == "snapshot"
    assert [(j["id"], j["state"], j["percent"]) for j in snapshot["jobs"]] == [
        (str(job.id), "succeeded", 100)
    ]


def test_another_testers_socket_receives_nothing_of_my_job(
    tester, other_tester, celery_worker, outputs_dir
):
    async def scenario():
        async with (
            _live("/ws/studio/", tester) as mine,
            _live("/ws/studio/", other_tester) as theirs,
        ):
            await mine.receive_json_from(timeout=10)
            await theirs.receive_json_from(timeout=10)
            job = await sync_to_async(_submit)(tester)
            await _collect_until_final(mine, str(job.id))
            return await theirs.receive_nothing(timeout=0.5)

    assert run_async(scenario) is True


def test_previews_reach_the_owner_and_reviewers_but_not_other_testers(
    tester, other_tester, reviewer, celery_worker, outputs_dir, settings
):
    async def scenario():
        async with AsyncExitStack() as sockets:
            mine = await sockets.enter_async_context(_live("/ws/studio/", tester))
            theirs = await sockets.enter_async_context(_live("/ws/studio/", other_tester))
            await mine.receive_json_from(timeout=10)
            await theirs.receive_json_from(timeout=10)
            job = await sync_to_async(_submit)(tester, steps=12)
            watcher = await sockets.enter_async_context(_live(f"/ws/jobs/{job.id}/", reviewer))
            previews_mine, previews_reviewer = [], []
            while True:
                message = await mine.receive_json_from(timeout=60)
                if message["type"] == "preview":
                    previews_mine.append(message["preview"])
                if message["type"] == "job" and message["job"]["state"] == "succeeded":
                    break
            while not await watcher.receive_nothing(timeout=0.3):
                message = await watcher.receive_json_from()
                if message["type"] == "preview":
                    previews_reviewer.append(message["preview"])
            leaked = await theirs.receive_nothing(timeout=0.5)
            return previews_mine, previews_reviewer, leaked

    mine, reviewers, leaked = run_async(scenario)

    # The worker's default: a preview every 5 steps, never on the last one (12 steps: 5 and 10).
    assert [p["step"] for p in mine] == [5, 10]
    assert all(p["image"].startswith("data:image/webp;base64,") for p in mine)
    assert [p["step"] for p in reviewers] == [5, 10]
    assert leaked is True
