"""Several uvicorn worker processes (the Procfile's WEB_CONCURRENCY): a socket held by any of them
hears an event published anywhere, because the channel layer is Redis, not a process's memory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import websockets

from generation.progress import publish_job
from tests.conftest import ManagedProcess, _free_port, server_command
from tests.factories import make_job
from tests.faults.conftest import session_cookie
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

WORKERS = 2
SERVICE_RESTART = 1012  # the close code the page shows as "server restarting"
MAX_SOCKETS = 40  # connect until both workers hold some (the kernel picks the accepting process)


def _sockets_by_process(pids: list[int], port: int) -> dict[int, int]:
    """How many established connections to `port` each process holds (from /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":  # ESTABLISHED
            inodes.add(f"socket:[{fields[9]}]")
    counts = {}
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        counts[pid] = sum(1 for fd in fds.iterdir() if _link(fd) in inodes)
    return counts


def _link(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:  # closed meanwhile
        return ""


def _workers(server: ManagedProcess) -> list[int]:
    """uvicorn's worker processes (its other child is multiprocessing's resource tracker)."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    pids = [int(pid) for pid in children.read_text().split()]
    return [pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


async def _sockets_on_every_worker(url: str, cookie: str, pids: list[int], sockets: list) -> None:
    """Open studio sockets (appended to `sockets`) until every worker process holds one."""
    port = urlsplit(url).port
    headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://{urlsplit(url).netloc}"}
    while len(sockets) < MAX_SOCKETS:
        ws = await websockets.connect(
            url.replace("http", "ws") + "/ws/studio/", additional_headers=headers
        )
        sockets.append(ws)
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "snapshot"
        if sum(1 for n in _sockets_by_process(pids, port).values() if n) == WORKERS:
            return
    raise AssertionError(f"{MAX_SOCKETS} sockets all went to some of the {WORKERS} workers")


async def _job_event_reaches_every_socket(url: str, cookie: str, job, pids: list[int]) -> None:
    sockets: list = []
    try:
        await _sockets_on_every_worker(url, cookie, pids, sockets)

        await asyncio.to_thread(publish_job, job)

        for ws in sockets:
            await asyncio.wait_for(_until_job(ws, str(job.id)), 30)
    finally:
        for ws in sockets:
            await ws.close()


async def _until_job(ws, job_id: str) -> None:
    """Skip other events (queue updates) until one about `job_id` arrives."""
    while json.loads(await ws.recv()).get("job", {}).get("id") != job_id:
        pass


@contextmanager
def _web_workers(stack_env, artifacts_dir) -> Iterator[tuple[ManagedProcess, str, list[int]]]:
    """uvicorn with WORKERS processes, as the Procfile starts it; yields (server, URL, pids)."""
    port = _free_port()
    server = ManagedProcess(
        "asgi-workers",
        [*server_command(port), "--workers", str(WORKERS)],
        stack_env,
        artifacts_dir / f"asgi-workers-{port}.log",
    )
    try:
        wait_for(
            lambda: server.output().count("Application startup complete") == WORKERS,
            90,
            "every web worker to start",
        )
        pids = _workers(server)
        assert len(pids) == WORKERS
        yield server, f"http://127.0.0.1:{port}", pids
    finally:
        server.stop()


def test_an_event_reaches_sockets_on_every_web_worker(tester, stack_env, artifacts_dir):
    job = make_job(owner=tester)
    with _web_workers(stack_env, artifacts_dir) as (_, url, pids):
        asyncio.run(_job_event_reaches_every_socket(url, session_cookie(tester), job, pids))


async def _close_codes_after_sigterm(url, cookie, pids, server: ManagedProcess) -> list:
    sockets: list = []
    try:
        await _sockets_on_every_worker(url, cookie, pids, sockets)
        server.process.send_signal(signal.SIGTERM)
        return [await asyncio.wait_for(_close_code(ws), 30) for ws in sockets]
    finally:
        for ws in sockets:
            await ws.close()


async def _close_code(ws) -> int | None:
    try:
        while True:
            await ws.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def test_sigterm_closes_the_sockets_of_every_web_worker_with_service_restart(
    tester, stack_env, artifacts_dir
):
    with _web_workers(stack_env, artifacts_dir) as (server, url, pids):
        codes = asyncio.run(_close_codes_after_sigterm(url, session_cookie(tester), pids, server))

        assert set(codes) == {SERVICE_RESTART}
        server.process.wait(timeout=30)
        assert server.output().count("Finished server process") == WORKERS
