"""The studio's budget line over its socket: a tester's own budget reaches their studio, never
another tester's; other sockets of the same user ignore it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generation.progress import budget_event, publish_budget
from generation.services import JobRequest, job_submit
from realtime import groups
from realtime.publisher import publish
from tests.conftest import run_async, websocket
from tests.factories import make_job

pytestmark = [pytest.mark.timeout(60), pytest.mark.django_db(transaction=True)]


def test_the_studio_socket_hears_its_own_budget_and_never_anothers(tester, other_tester):
    make_job(tester)
    theirs = budget_event(other_tester)

    async def body():
        async with websocket("/ws/studio/", tester) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            # Theirs is addressed to this socket's own user group: only may_forward stops it.
            await sync_to_async(publish)(theirs, groups=[groups.user_group(tester.id)])
            await database_sync_to_async(publish_budget)(tester)
            return await socket.receive_json_from(timeout=5), await socket.receive_nothing(0.2)

    received, nothing_else = run_async(body)

    assert received["type"] == "budget"
    assert received["budget"]["user_id"] == tester.id
    assert (received["budget"]["waiting"], received["budget"]["waiting_limit"]) == (1, 12)
    assert nothing_else


def test_a_job_socket_ignores_its_users_budget(tester):
    job = make_job(tester)

    async def body():
        async with websocket(f"/ws/jobs/{job.id}/", tester) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            await database_sync_to_async(publish_budget)(tester)
            return await socket.receive_nothing(0.3)

    assert run_async(body)


def test_a_submission_announces_the_budget_it_read_under_its_lock_with_the_new_job_counted(
    tester, dispatched
):
    """The budget line after a submission is the one `job_submit` read while the owner's row was
    locked, plus the new job: the announcement (run on commit, inside the request) adds no query
    for it (the budget aggregate ran once, in the transaction)."""
    make_job(tester)

    def submit() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            job_submit(owner=tester, request=JobRequest(model_name="demo", prompt="a heron"))
        return [query["sql"] for query in queries.captured_queries]

    async def body():
        async with websocket("/ws/studio/", tester) as socket:
            await socket.connect(timeout=5)
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            sql = await database_sync_to_async(submit)()
            frames = [await socket.receive_json_from(timeout=5) for _ in range(2)]
            return sql, frames

    sql, frames = run_async(body)

    budget = next(frame["budget"] for frame in frames if frame["type"] == "budget")
    assert (budget["waiting"], budget["waiting_limit"]) == (2, 12)
    assert sum('SUM("generation_job"."gpu_seconds")' in query for query in sql) == 1, sql
