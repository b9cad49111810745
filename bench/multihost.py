"""Multi-host run: two web servers and two GPU workers that share nothing but PostgreSQL, Redis and
an S3 bucket (issue #14).

Every "host" is a process group with its own data folder (VERNISSAGE_DATA_DIR: outputs folder,
metrics folder, models, C2PA folder), its own TMPDIR and its own working scratch; the only storage
is a moto S3 server this script starts on a loopback port (VERNISSAGE_STORAGE=s3). All hosts share
DJANGO_SECRET_KEY and VERNISSAGE_WATERMARK_KEY, as a deployment must. Started as the Procfile
starts them: web A and web B (scripts/serve_web.sh, one uvicorn process each), worker A and
worker B (celery, queue gpu.demo, hostnames gpu-demo@host-a / @host-b, each with its own copy of
the demo model) and one dispatcher. Then:

1. worker A is stopped (SIGTERM, after it was ready): only worker B can render;
2. a studio socket is opened on web B (session cookie);
3. N jobs are submitted through web A's REST API (token made in the bench database);
4. each must succeed with `Job.worker == gpu-demo@host-b`; web B's socket must carry their
   progress events (job payloads with state "running");
5. the owner downloads each video from web A: /outputs/<id>/content/ (302) -> /downloads/<signed>/
   (302 to a presigned S3 URL) -> GET it: an MP4 whose bytes equal the object in the bucket;
6. with a socket open on web A and one on web B, the tester is revoked (containment service):
   both sockets must receive access_ended and close; web A and web B must then refuse the token.

    python bench/multihost.py [--jobs 3]   # DATABASE_URL (PostgreSQL), REDIS_URL
"""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first.

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _django import ROOT, procfile_command, setup_django_with_bench_db
from revocation import BIN, _listening, free_port

MODEL = "demo"


def step(name: str, began: float, result: object) -> None:
    print(f"[{time.perf_counter() - began:7.2f} s] {name}: {result}", flush=True)


def start_moto() -> tuple[object, dict[str, str]]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "VERNISSAGE_STORAGE": "s3",
        "VERNISSAGE_S3_BUCKET": f"multihost-{os.getpid()}",
        "VERNISSAGE_S3_ENDPOINT_URL": f"http://{host}:{port}",
        "VERNISSAGE_S3_REGION": "us-east-1",
        "VERNISSAGE_S3_ACCESS_KEY_ID": "bench-key",
        "VERNISSAGE_S3_SECRET_ACCESS_KEY": "bench-secret",
        "VERNISSAGE_S3_ADDRESSING_STYLE": "path",
    }
    return server, env


def host_env(base: dict[str, str], root: Path, name: str) -> dict[str, str]:
    """One host's environment: its own data folder and temp folder, nothing else on disk shared."""
    data, tmp = root / name / "data", root / name / "tmp"
    data.mkdir(parents=True)
    tmp.mkdir(parents=True)
    return {
        **base,
        "VERNISSAGE_DATA_DIR": str(data),
        "VERNISSAGE_OUTPUTS_DIR": str(data / "outputs"),
        "TMPDIR": str(tmp),
        "PGAPPNAME": f"multihost-{name}",  # which host a PostgreSQL session belongs to
    }


def start_hosts(base: dict[str, str], root: Path, logs: Path) -> dict:
    from django.conf import settings

    hosts: dict = {}
    for name in ("web-a", "web-b"):
        env = host_env(base, root, name)
        port = free_port()
        values = {**env, "VERNISSAGE_PORT": str(port), "WEB_CONCURRENCY": "1"}
        command, env = procfile_command("web", values)  # the Procfile's own line
        hosts[name] = {"port": port, "env": env, "command": command}
    for name in ("worker-a", "worker-b"):
        env = host_env(base, root, name)
        # Each GPU box has its own copy of the weights.
        shutil.copytree(
            settings.DEMO_MODEL_PATH,
            Path(env["VERNISSAGE_DATA_DIR"]) / "models" / (settings.DEMO_MODEL_PATH.name),
        )
        hosts[name] = {
            "env": env,
            "command": [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--queues",
                f"gpu.{MODEL}",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--hostname",
                f"gpu-demo@host-{name[-1]}",
                "--loglevel",
                "INFO",
            ],
        }
    hosts["dispatcher"] = {
        "env": host_env(base, root, "dispatcher"),
        "command": [str(BIN / "python"), "manage.py", "dispatcher"],
    }
    for name, host in hosts.items():
        host["log"] = logs / f"multihost-{name}.log"
        host["process"] = subprocess.Popen(
            host["command"],
            cwd=ROOT,
            env=host["env"],
            stdout=host["log"].open("wb"),
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        webs = all(_listening(hosts[name]["port"]) for name in ("web-a", "web-b"))
        workers = all(" ready." in hosts[n]["log"].read_text() for n in ("worker-a", "worker-b"))
        if webs and workers:
            return hosts
        for name, host in hosts.items():
            if host["process"].poll() is not None:
                raise SystemExit(f"{name} exited; see {host['log']}")
        time.sleep(0.3)
    raise SystemExit(f"the hosts did not start within 180 s; see {logs}/multihost-*.log")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def make_tester():
    from django.test import Client

    from access.models import Cohort, User
    from access.roles import TESTERS, role_grant
    from access.services import token_create

    cohort = Cohort.objects.create(
        name="Multihost",
        model_names=[MODEL],
        max_concurrent_jobs=1,
        max_queued_jobs=20,
        gpu_seconds_per_day=100_000,
        ends_at=datetime.now(UTC) + timedelta(days=1),
    )
    user = User.objects.create_user(
        username="multihost", email="multihost@bench.local", password=None, cohort=cohort
    )
    role_grant(user=user, role=TESTERS)
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    client.get("/studio/")  # the session is now known to allauth's usersessions as well
    scopes = ["jobs:read", "jobs:write", "outputs:read"]
    token = token_create(user=user, name="multihost", scopes=scopes).plaintext
    return user, client.cookies["sessionid"].value, token


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http(url: str, token: str | None = None, body: dict | None = None) -> tuple[int, Any, bytes]:
    """(status, headers (case-insensitive), body), redirects not followed."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (loopback)
    try:
        with _opener.open(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers, answer.read()


async def open_socket(port: int, cookie: str, messages: list):
    import websockets

    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/studio/",
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"},
    )
    messages.append(json.loads(await ws.recv()))  # the snapshot: authenticated and subscribed

    async def read() -> float:
        try:
            async for raw in ws:
                messages.append(json.loads(raw))
        except Exception:  # noqa: S110 (any way the connection ends is an end)
            pass
        return time.perf_counter()

    return ws, asyncio.create_task(read())


def wait_final(ids: list[str], timeout: float) -> dict[str, tuple[str, str]]:
    from django.db import connections

    from generation.models import Job

    deadline = time.monotonic() + timeout
    rows: dict[str, tuple[str, str]] = {}
    while time.monotonic() < deadline:
        rows = {
            str(i): (state, worker)
            for i, state, worker in Job.objects.filter(id__in=ids).values_list(
                "id", "state", "worker"
            )
        }
        if len(rows) == len(ids) and all(s in Job.FINAL_STATES for s, _ in rows.values()):
            break
        connections.close_all()
        time.sleep(0.5)
    return rows


def check_video(port: int, token: str, job_id: str) -> tuple[bool, str]:
    """The owner's download from web A, hop by hop; the bytes against the bucket's object."""
    from django.core.files.storage import storages

    from review.models import Output

    output = Output.objects.get(job_id=job_id)
    status, headers, _ = http(f"http://127.0.0.1:{port}/api/v1/outputs/{output.id}/content/", token)
    if status != 302:
        return False, f"content: {status}"
    status, headers, _ = http(headers["Location"])
    location = headers.get("Location", "")
    if status != 302 or "X-Amz-Signature=" not in location:
        return False, f"download: {status} {location[:80]}"
    with urllib.request.urlopen(location, timeout=60) as response:  # noqa: S310 (loopback moto)
        body = response.read()
    with storages["outputs"].open(output.video_name, "rb") as stored:
        expected = stored.read()
    ok = body == expected and body[4:8] == b"ftyp"
    return ok, f"302 -> 302 -> presigned S3, {len(body)} bytes, MP4 {body[4:8] == b'ftyp'}, " + (
        "same bytes as the bucket" if body == expected else "DIFFERENT from the bucket"
    )


async def scenario(args, hosts: dict, began: float) -> dict:
    from asgiref.sync import sync_to_async
    from django.db import connections

    try:
        return await _scenario(args, hosts, began)
    finally:
        await sync_to_async(connections.close_all)()


async def _scenario(args, hosts: dict, began: float) -> dict:
    from asgiref.sync import sync_to_async

    from containment.services import tester_revoke

    port_a, port_b = hosts["web-a"]["port"], hosts["web-b"]["port"]
    await asyncio.to_thread(stop, hosts["worker-a"]["process"])
    step("worker A stopped (SIGTERM); only worker B serves gpu.demo", began, "ok")

    user, cookie, token = await sync_to_async(make_tester)()
    on_b: list[dict] = []
    ws_b, reader_b = await open_socket(port_b, cookie, on_b)
    step("studio socket open on web B", began, "snapshot received")

    ids = []
    for n in range(args.jobs):
        body = {"model": MODEL, "prompt": f"a lighthouse, take {n}"}
        status, _, raw = await asyncio.to_thread(
            http, f"http://127.0.0.1:{port_a}/api/v1/jobs/", token, body
        )
        if status != 201:
            raise SystemExit(f"web A refused the submission: {status} {raw[:200]!r}")
        ids.append(json.loads(raw)["id"])
    step(f"{args.jobs} jobs submitted through web A's API", began, "201 each")

    rows = await sync_to_async(wait_final)(ids, args.timeout)
    succeeded = [i for i in ids if rows.get(i, ("", ""))[0] == "succeeded"]
    on_worker_b = [i for i in succeeded if rows[i][1] == "gpu-demo@host-b"]
    step("jobs final", began, {i[:8]: rows.get(i) for i in ids})
    await asyncio.sleep(1)  # the last events cross the channel layer
    progress = [
        m
        for m in on_b
        if m.get("type") == "job"
        and str(m.get("job", {}).get("id")) in ids
        and m["job"].get("state") == "running"
    ]
    jobs_seen = {str(m["job"]["id"]) for m in progress}
    step("progress events on web B's socket", began, f"{len(progress)} for {len(jobs_seen)} job(s)")

    videos = [await sync_to_async(check_video)(port_a, token, i) for i in succeeded]
    for _ok, detail in videos:
        step("video from web A", began, detail)

    if args.connections:
        connections_per = await measure_connections(args, port_a, port_b, cookie, token, began)
    else:
        connections_per = {}

    on_a: list[dict] = []
    ws_a, reader_a = await open_socket(port_a, cookie, on_a)
    step("sockets held on web A and web B", began, "ok")
    revoked = time.perf_counter()
    await sync_to_async(tester_revoke)(tester=user, by=None, reason="multihost bench")
    try:
        closed = await asyncio.wait_for(asyncio.gather(reader_a, reader_b), 30)
    except TimeoutError:
        closed = []
    ended = {
        name: any(m.get("type") == "access_ended" for m in messages)
        for name, messages in (("web A", on_a), ("web B", on_b))
    }
    closes_ms = [round((t - revoked) * 1000, 1) for t in closed]
    step("tester revoked; sockets", began, f"access_ended {ended}, closed after {closes_ms} ms")
    refusals = {}
    for name, port in (("web A", port_a), ("web B", port_b)):
        refusals[name] = (
            await asyncio.to_thread(http, f"http://127.0.0.1:{port}/api/v1/jobs/", token)
        )[0]
    step("the token afterwards", began, refusals)
    await ws_a.close()
    await ws_b.close()
    return {
        "jobs": len(ids),
        "rendered_on_b": len(on_worker_b),
        "progress_events_on_b": len(progress),
        "progress_jobs_on_b": len(jobs_seen),
        "video_ok": sum(ok for ok, _ in videos),
        "contained_sockets_closed": sum(ended.values()) if len(closed) == 2 else 0,
        "token_refused_on": sum(status == 401 for status in refusals.values()),
        "lost": len(ids) - len(succeeded),
        **connections_per,
    }


def sessions_seen() -> tuple[int, set[tuple[str, int, str]]]:
    """The bench database's session count so far (pg_stat_database.sessions, every session ever
    opened) and the sessions open now, as (application_name, pid, backend_start)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        total = cursor.fetchone()[0]
        cursor.execute(
            "SELECT application_name, pid, backend_start::text FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return total, set(cursor.fetchall())


async def watch_sessions(stop_event: asyncio.Event) -> tuple[int, set]:
    """Poll every 0.1 s until `stop_event`: sessions opened in between, and those seen."""
    from asgiref.sync import sync_to_async

    first, seen = await sync_to_async(sessions_seen)()
    before = set(seen)
    last = first
    while not stop_event.is_set():
        await asyncio.sleep(0.1)
        last, now = await sync_to_async(sessions_seen)()
        seen |= now
    return last - first, seen - before


def new_by_host(seen: set) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, _, _ in seen:
        counts[name or "?"] = counts.get(name or "?", 0) + 1
    return counts


async def measure_connections(args, port_a, port_b, cookie, token, began) -> dict:
    """New PostgreSQL sessions per 100 API requests to web A, and per idle socket-minute on web B
    (each host's sessions carry its PGAPPNAME; the bench's own polling connection stays open)."""
    stop_event = asyncio.Event()
    watcher = asyncio.create_task(watch_sessions(stop_event))
    await asyncio.sleep(0.3)
    for _ in range(100):
        status, _, _ = await asyncio.to_thread(
            http, f"http://127.0.0.1:{port_a}/api/v1/jobs/", token
        )
        assert status == 200, status
    await asyncio.sleep(1.5)  # backends report their statistics within a second
    stop_event.set()
    total, seen = await watcher
    api = new_by_host(seen)
    step(
        "new PostgreSQL sessions during 100 GET /api/v1/jobs/ on web A",
        began,
        f"{total} in the database (all hosts), seen open by host: {api}",
    )

    sockets = []
    for _ in range(args.idle_sockets):
        sockets.append(await open_socket(port_b, cookie, []))
    await asyncio.sleep(1)
    stop_event = asyncio.Event()
    watcher = asyncio.create_task(watch_sessions(stop_event))
    await asyncio.sleep(args.idle_seconds + 1.5)
    stop_event.set()
    idle_total, idle_seen = await watcher
    idle = new_by_host(idle_seen)
    for ws, reader in sockets:
        await ws.close()
        await reader
    socket_minutes = args.idle_sockets * args.idle_seconds / 60
    step(
        f"new sessions while {args.idle_sockets} sockets idled {args.idle_seconds} s on web B",
        began,
        f"{idle_total} in the database (all hosts), seen open by host: {idle}",
    )
    return {
        "pg_sessions_per_100_api_requests_all_hosts": total,
        "pg_sessions_per_100_api_requests_web_a": api.get("multihost-web-a", 0),
        "pg_sessions_idle_window_all_hosts": idle_total,
        "pg_sessions_per_idle_socket_minute_web_b": round(
            idle.get("multihost-web-b", 0) / socket_minutes, 3
        ),
        "idle_socket_minutes": socket_minutes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the jobs to end")
    parser.add_argument(
        "--connections",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure new PostgreSQL sessions per 100 API requests and per idle socket-minute",
    )
    parser.add_argument("--idle-sockets", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=60)
    args = parser.parse_args()
    load_before = os.getloadavg()
    began = time.perf_counter()
    server, s3 = start_moto()
    shared = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "VERNISSAGE_WATERMARK_KEY": secrets.token_urlsafe(32),
        **s3,
    }
    os.environ.update(shared)  # this process reads the same bucket and signs the same sessions
    teardown = setup_django_with_bench_db()
    from django.conf import settings
    from django.core.files.storage import storages
    from django.db import connection

    from generation.pipeline.demo import ensure_demo_model

    ensure_demo_model(settings.DEMO_MODEL_PATH)
    storages["outputs"].connection.meta.client.create_bucket(Bucket=s3["VERNISSAGE_S3_BUCKET"])
    db = connection.settings_dict
    base = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith("VERNISSAGE_") and k != "PROMETHEUS_MULTIPROC_DIR"
        },
        **{k: v for k, v in os.environ.items() if k.startswith("VERNISSAGE_S3_")},
        **shared,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "VERNISSAGE_PREVIEW_EVERY": "0",
    }
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="vernissage-multihost-"))
    hosts: dict = {}
    summary: dict = {}
    try:
        hosts = start_hosts(base, root, logs)
        step("hosts up (web A, web B, worker A, worker B, dispatcher; moto S3)", began, root)
        summary = asyncio.run(scenario(args, hosts, began))
        local = sorted(str(p.relative_to(root)) for p in root.rglob("*.mp4"))
        step("MP4 files left on the hosts' own disks (data and temp folders)", began, local)
        summary["local_mp4_files"] = len(local)
    finally:
        for host in hosts.values():
            if host["process"].poll() is None:
                stop(host["process"])
        connection.close()
        teardown()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"load average (1/5/15 min): before {load_before}, after {load_after}")
    result = {
        "hosts": 5,
        **summary,
        "wall_s": round(time.perf_counter() - began, 1),
        "load_before": round(load_before[0], 2),
        "load_after": round(load_after[0], 2),
    }
    print(json.dumps(result))
    good = (
        summary.get("rendered_on_b") == args.jobs
        and summary.get("video_ok") == args.jobs
        and summary.get("progress_jobs_on_b") == args.jobs
        and summary.get("contained_sockets_closed") == 2
        and summary.get("token_refused_on") == 2
        and summary.get("lost") == 0
        and summary.get("local_mp4_files") == 0
    )
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
