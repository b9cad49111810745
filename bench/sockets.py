"""1,000 studio sockets on one web server, measured on the real stack.

Starts one uvicorn the way the Procfile does (`scripts/serve_web.sh`, websockets-sansio, one
worker process) against the machine's PostgreSQL and Redis (a throw-away `<name>_bench` database),
makes 100 testers with a session each and opens 10 studio sockets per tester (1,000 in all, a
bounded number of handshakes at a time). Then it times

- connecting all of them (each counts once its snapshot arrived),
- per-user fan-out: one job event to one tester's group, until each of the tester's 10 sockets
  has it (p50 / p95 / max over all sockets of all rounds),
- program-wide fan-out: a job event for every tester at the same moment (100 group sends, as
  a finished job's queue-position updates do), until each of the 1,000 sockets has its own,
- the server's CPU (share of one core) and RSS while the 1,000 sockets are quiet,
- a mass disconnect: every client hangs up at once; the server's errors in that phase, and the
  web processes subscribed to the program group before and after (the layer subscribes once per
  process with a member socket).

Messages that never arrive within the wait count as lost. The last line is one JSON object.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vernissage REDIS_URL=redis://127.0.0.1:6379/3 \
        python bench/sockets.py
"""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first.

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import time
from pathlib import Path

from _django import ROOT, procfile_command, setup_django_with_bench_db
from revocation import free_port, make_tester, pct

PREFIX = "vernissage-bench-sockets"


def server_errors(log: Path) -> tuple[int, int]:
    """(exception reports, of which the pool's "too many connections") in the server's log."""
    lines = log.read_text(errors="replace").splitlines()
    tracebacks = sum(1 for line in lines if line.startswith("Traceback (most recent call last)"))
    pool = sum(1 for line in lines if re.match(r"\S*(MaxConnectionsError|ConnectionError):", line))
    return tracebacks, pool


def start_server(env: dict, port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    """One uvicorn with `workers` processes (the Procfile's WEB_CONCURRENCY is 2), started with
    the Procfile's own command line."""
    values = {**env, "VERNISSAGE_PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    command, server_env = procfile_command("web", values)
    return subprocess.Popen(
        command, cwd=ROOT, env=server_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (with several workers, uvicorn's are its supervisor's children)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and its descendants (the whole server)."""
    return sum(_own_cpu_seconds(p) for p in process_tree(pid))


def _own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of the server's processes together."""
    total = 0.0
    for each in process_tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def server_pid(process: subprocess.Popen) -> int:
    """serve_web.sh execs uvicorn, which with one worker serves in its own process."""
    return process.pid


class Client:
    """One browser tab: a studio socket that records when each bench event reached it."""

    def __init__(self, user_id: int, ws) -> None:
        self.user_id = user_id
        self.ws = ws
        self.arrived: dict[str, float] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                message = json.loads(text)
                if message.get("type") == "job":
                    self.arrived[message["job"]["id"]] = time.perf_counter()
        except Exception:  # noqa: S110 (any way the connection ends is an end)
            pass


async def connect_all(port: int, testers: list, per_tester: int, concurrency: int) -> list:
    import websockets

    gate = asyncio.Semaphore(concurrency)

    async def one(user_id: int, cookie: str) -> Client:
        async with gate:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/studio/",
                additional_headers={
                    "Cookie": f"sessionid={cookie}",
                    "Origin": f"http://127.0.0.1:{port}",
                },
                ping_interval=None,  # browsers answer pings; they do not send them
                open_timeout=120,
                max_queue=None,
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), 120))
            assert first["type"] == "snapshot", first
            return Client(user_id, ws)

    return await asyncio.gather(
        *(one(user.id, cookie) for user, cookie in testers for _ in range(per_tester))
    )


def bench_event(event_id: str, owner_id: int) -> dict:
    from realtime.events import JobEvent

    return JobEvent(
        id=event_id,
        owner_id=owner_id,
        model="demo",
        prompt="bench",
        state="running",
        state_label="Running",
        step=1,
        total_steps=2,
        percent=50,
        eta_s=None,
        queue_position=None,
        error="",
        created_at="2026-11-30T00:00:00+00:00",
        output=None,
    ).layer_message()


async def fan_out(clients: list, owners: list[int], event_id: str, wait: float) -> list[float]:
    """Send one event to each owner's group at once; ms until each owner's socket had it
    (`inf` for a socket it never reached within `wait` seconds)."""
    from channels.layers import get_channel_layer

    from realtime import groups

    layer = get_channel_layer()
    addressed = set(owners)
    receivers = [c for c in clients if c.user_id in addressed]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            layer.group_send(groups.user_group(owner), bench_event(event_id, owner))
            for owner in owners
        )
    )
    deadline = started + wait
    while time.perf_counter() < deadline and not all(event_id in c.arrived for c in receivers):
        await asyncio.sleep(0.005)
    return [
        (c.arrived[event_id] - started) * 1000 if event_id in c.arrived else float("inf")
        for c in receivers
    ]


async def group_size(group: str) -> int:
    """How many web processes Redis sends `group`'s messages to (the layer subscribes once per
    process that has a member socket, `realtime.layers`): 0 once every socket has left."""
    from channels.layers import get_channel_layer

    return await get_channel_layer().subscriber_count(group)


async def measure(args, port: int, pid: int, testers: list, log: Path) -> dict:
    started, cpu_before = time.perf_counter(), cpu_seconds(pid)
    clients = await connect_all(port, testers, args.per_tester, args.concurrency)
    connect_s = time.perf_counter() - started
    connect_cpu_s = cpu_seconds(pid) - cpu_before
    print(
        f"connected {len(clients)} sockets in {connect_s:.1f} s (server CPU {connect_cpu_s:.1f} s);"
        f" RSS {rss_mb(pid):.0f} MB"
    )

    await asyncio.sleep(args.settle)
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(args.idle)
    idle_cpu = 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
    rss = rss_mb(pid)
    print(f"idle {args.idle:.0f} s: server CPU {idle_cpu:.1f} % of a core, RSS {rss:.0f} MB")

    owners = [user.id for user, _ in testers]
    user_ms: list[float] = []
    for n in range(args.rounds):
        user_ms += await fan_out(clients, [owners[n % len(owners)]], f"user-{n}", args.wait)
        await asyncio.sleep(args.gap)
    program_ms: list[float] = []
    server_cpu = client_cpu = 0.0
    for n in range(args.program_rounds):
        cpu0, own0 = cpu_seconds(pid), time.process_time()
        program_ms += await fan_out(clients, owners, f"program-{n}", args.wait)
        server_cpu += cpu_seconds(pid) - cpu0
        client_cpu += time.process_time() - own0
        await asyncio.sleep(max(args.gap, 1.0))
    rounds = max(1, args.program_rounds)
    print(
        f"program-wide rounds: the server spent {1000 * server_cpu / rounds:.0f} ms of CPU on "
        f"each, this client {1000 * client_cpu / rounds:.0f} ms"
    )
    lost = sum(1 for ms in user_ms + program_ms if ms == float("inf"))

    in_group = await group_size("program")
    errors_before, pool_before = server_errors(log)
    hung_up = time.perf_counter()
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    closed_s = time.perf_counter() - hung_up
    left = in_group
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        left = await group_size("program")
        if left == 0:
            break
    await asyncio.sleep(1.0)  # late tracebacks
    errors_after, pool_after = server_errors(log)
    errors, pool = errors_after - errors_before, pool_after - pool_before
    print(
        f"mass disconnect: closed in {closed_s:.1f} s, {errors} exception(s) in the server "
        f"({pool} of them the Redis pool's); program group {in_group} -> {left}"
    )
    return {
        "connect_s": connect_s,
        "connect_cpu_s": connect_cpu_s,
        "idle_cpu_pct": idle_cpu,
        "rss_mb": rss,
        "user_ms": user_ms,
        "program_ms": program_ms,
        "lost": lost,
        "program_round_server_cpu_ms": 1000 * server_cpu / rounds,
        "program_round_client_cpu_ms": 1000 * client_cpu / rounds,
        "discard_errors": errors,
        "pool_errors": pool,
        "program_group_before": in_group,
        "program_group_after": left,
    }


def stats(values: list[float]) -> tuple[float, float, float]:
    finite = [v for v in values if v != float("inf")] or [float("nan")]
    return (
        round(statistics.median(finite), 1),
        round(pct(finite, 0.95), 1),
        round(max(finite), 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testers", type=int, default=100)
    parser.add_argument(
        "--web-workers", type=int, default=1, help="uvicorn processes (Procfile: WEB_CONCURRENCY=2)"
    )
    parser.add_argument("--per-tester", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes at a time")
    parser.add_argument("--rounds", type=int, default=30, help="per-user fan-out rounds")
    parser.add_argument("--program-rounds", type=int, default=5)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between rounds")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of quiet measured")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds before 'lost'")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 sockets each side
    os.environ["VERNISSAGE_CHANNEL_PREFIX"] = PREFIX
    teardown = setup_django_with_bench_db()
    from django.db import connection

    from access.models import Cohort

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
    }
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    log = logs / "bench-sockets-server.log"
    from datetime import UTC, datetime, timedelta

    cohort = Cohort.objects.create(
        name="Bench", model_names=["demo"], ends_at=datetime.now(UTC) + timedelta(days=1)
    )
    made = time.perf_counter()
    testers = [make_tester(n, cohort)[:2] for n in range(args.testers)]
    print(f"{len(testers)} testers with sessions in {time.perf_counter() - made:.1f} s")
    port = free_port()
    server = start_server(env, port, log, args.web_workers)
    try:
        deadline = time.monotonic() + 60
        from revocation import _listening

        while not _listening(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start; see {log}")
            time.sleep(0.2)
        result = asyncio.run(measure(args, port, server_pid(server), testers, log))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        connection.close()
        teardown()
    user, program = stats(result["user_ms"]), stats(result["program_ms"])
    print(f"{'fan-out (ms)':28}{'p50':>9}{'p95':>9}{'max':>9}")
    print(f"{'one tester, 10 sockets':28}{user[0]:9}{user[1]:9}{user[2]:9}   (goal p95 <= 100)")
    print(
        f"{'every tester at once':28}{program[0]:9}{program[1]:9}{program[2]:9}   (goal p95 <= 500)"
    )
    summary = {
        "sockets": args.testers * args.per_tester,
        "web_workers": args.web_workers,
        "connect_s": round(result["connect_s"], 1),
        "connect_server_cpu_s": round(result["connect_cpu_s"], 1),
        "user_fanout_p50_ms": user[0],
        "user_fanout_p95_ms": user[1],
        "user_fanout_max_ms": user[2],
        "program_fanout_p50_ms": program[0],
        "program_fanout_p95_ms": program[1],
        "program_fanout_max_ms": program[2],
        "idle_cpu_pct": round(result["idle_cpu_pct"], 1),
        "rss_mb": round(result["rss_mb"]),
        "lost": result["lost"],
        "program_round_server_cpu_ms": round(result["program_round_server_cpu_ms"]),
        "program_round_client_cpu_ms": round(result["program_round_client_cpu_ms"]),
        "discard_errors": result["discard_errors"],
        "redis_pool_errors": result["pool_errors"],
        "program_group_before": result["program_group_before"],
        "program_group_after": result["program_group_after"],
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
