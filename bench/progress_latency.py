"""Progress latency: from the worker's step callback to the browser's studio socket.

Starts one uvicorn as the Procfile does (`scripts/serve_web.sh`) and a Celery worker for a small
random-weight model against the machine's PostgreSQL and Redis (a throw-away `<name>_bench`
database). The worker is this script in `--worker` mode: the ordinary worker, with its step
callback (`generation.worker._record_progress`) wrapped to note the wall-clock time each step
was reported. One tester holds a studio socket and submits jobs one after another until at least
`--events` progress events have reached the socket; each event's latency is its arrival minus
the moment its step was reported (the same machine's clock). Throttled steps send nothing and
are not counted. The last line is one JSON object.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vernissage REDIS_URL=redis://127.0.0.1:6379/3 \
        python bench/progress_latency.py
"""

# Project modules are imported inside functions: they need django.setup() first.

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _django import ROOT

MODEL = "demo-progress"


def bench_model() -> dict:
    from django.conf import settings

    size = {"num_frames": 9, "width": 256, "height": 256, "steps": 300, "guidance": 5}
    return {
        "name": MODEL,
        "source": str(settings.DEMO_MODEL_PATH),
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "defaults": size,
        "limits": size,
    }


def worker(log: str) -> None:
    """The Celery worker, noting when each step is reported (in its pool child)."""
    import django

    django.setup()
    from config.celery import app
    from generation import worker as module

    record = module._record_progress

    def noted(job, step: int) -> bool:
        reported = time.time()
        try:
            return record(job, step)
        finally:
            with open(log, "a") as out:
                out.write(f"{job.id} {step} {reported}\n")

    module._record_progress = noted
    app.worker_main(
        [
            "worker",
            "--queues",
            f"gpu.{MODEL}",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
            "--hostname",
            "bench-progress@%h",
        ]
    )


def reported_steps(log: Path) -> dict[tuple[str, int], float]:
    if not log.exists():
        return {}
    steps = {}
    for line in log.read_text().splitlines():
        job_id, step, at = line.split()
        steps[(job_id, int(step))] = float(at)
    return steps


async def watch(port: int, cookie: str, user, wanted: int, log: Path) -> list[float]:
    """Submit jobs one after another until `wanted` progress events arrived; their latencies."""
    import websockets
    from asgiref.sync import sync_to_async

    from generation.models import Job
    from generation.services import JobRequest, job_submit

    arrived: dict[tuple[str, int], float] = {}
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/studio/",
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"},
        ping_interval=None,
    )
    assert json.loads(await ws.recv())["type"] == "snapshot"

    async def read() -> None:
        async for text in ws:
            message = json.loads(text)
            if message.get("type") == "job" and message["job"]["state"] == "running":
                key = (message["job"]["id"], message["job"]["step"])
                arrived.setdefault(key, time.time())

    reader = asyncio.create_task(read())
    submit = sync_to_async(job_submit)
    jobs = 0
    while len(arrived) < wanted and jobs < 50:
        job, _ = await submit(owner=user, request=JobRequest(model_name=MODEL, prompt="p"))
        jobs += 1
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            row = await sync_to_async(Job.objects.get)(id=job.id)
            if row.is_final:
                break
            await asyncio.sleep(0.2)
        print(f"job {jobs}: {row.state}, {len(arrived)} progress events so far")
    await asyncio.sleep(1.0)
    reader.cancel()
    await ws.close()
    from django.db import connections

    await sync_to_async(connections.close_all)()  # the thread's, so the database can be dropped
    reported = reported_steps(log)
    return [(at - reported[key]) * 1000 for key, at in arrived.items() if key in reported]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run as the worker
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    from _django import setup_django_with_bench_db
    from revocation import BIN, _listening, free_port, make_tester, pct, start_dispatcher
    from sockets import start_server

    teardown = setup_django_with_bench_db()
    from datetime import UTC, datetime, timedelta

    from django.conf import settings
    from django.db import connection

    from access.models import Cohort
    from generation.pipeline.demo import ensure_demo_model

    ensure_demo_model(settings.DEMO_MODEL_PATH)
    models = [*settings.VERNISSAGE_MODELS, bench_model()]
    settings.VERNISSAGE_MODELS = models
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "VERNISSAGE_MODELS": json.dumps(models),
        "HF_HUB_OFFLINE": "1",
        "VERNISSAGE_PREVIEW_EVERY": "0",
        "OMP_NUM_THREADS": "1",  # the stand-in "GPU" job must leave the web server a core
    }
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    steps_log = logs / "bench-progress-steps.log"
    steps_log.unlink(missing_ok=True)
    cohort = Cohort.objects.create(
        name="Bench",
        model_names=[MODEL],
        max_concurrent_jobs=1,
        max_queued_jobs=5,
        ends_at=datetime.now(UTC) + timedelta(days=1),
    )
    user, cookie, _ = make_tester(0, cohort)
    port = free_port()
    server = start_server(env, port, logs / "bench-progress-server.log")
    worker_process = subprocess.Popen(
        [str(BIN / "python"), __file__, "--worker", str(steps_log)],
        cwd=ROOT,
        env=env,
        stdout=(logs / "bench-progress-worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    dispatcher = start_dispatcher(env, logs)
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        latencies = asyncio.run(watch(port, cookie, user, args.events, steps_log))
    finally:
        for process in (server, worker_process, dispatcher):
            process.terminate()
        for process in (server, worker_process, dispatcher):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        connection.close()
        teardown()
    if not latencies:
        sys.exit("no progress event arrived")
    p50, p95 = statistics.median(latencies), pct(latencies, 0.95)
    print(f"{len(latencies)} events, step reported -> socket: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(
        json.dumps(
            {
                "events": len(latencies),
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(max(latencies), 1),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
