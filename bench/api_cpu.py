"""What one API submission costs the web server in CPU, with nothing else on the clock: the ASGI
application driven in this process (no uvicorn, worker or dispatcher), `--clients` submitting at
once, against the machine's PostgreSQL and Redis (a throw-away `<name>_bench` database).

Django's own ASGI handler and ours (`config.asgi_handler.OneHopASGIHandler`) take turns, batch by
batch, in the same process, so a machine that speeds up or slows down weighs on both alike. The
figure is the process's CPU (user + system) per request, which includes the few microseconds this
script spends building each request.

    python bench/api_cpu.py                      # 20 clients x 10 submissions, 6 rounds
    python bench/api_cpu.py --rounds 10 --clients 5
"""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first.

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

from _django import setup_django_with_bench_db
from submit_load import make_testers, quick_model

# As the ASGI entry point sets them (config/asgi.py), before settings are read.
os.environ.setdefault("VERNISSAGE_DB_POOL", "1")
os.environ.setdefault("VERNISSAGE_DB_CONN_MAX_AGE", "0")


async def _submit(app, token: str, n: int) -> int:
    body = json.dumps({"model": "demo-quick", "prompt": f"a lantern, take {n}"}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/jobs/",
        "raw_path": b"/api/v1/jobs/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive():
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # no disconnect: Django cancels this wait when it answers

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _batch(app, tokens: list[str], per_client: int, statuses: dict[int, int]) -> float:
    async def client(token: str) -> None:
        for n in range(per_client):
            status = await _submit(app, token, n)
            statuses[status] = statuses.get(status, 0) + 1

    began = time.process_time()
    await asyncio.gather(*(client(token) for token in tokens))
    return (time.process_time() - began) * 1000 / (len(tokens) * per_client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=10, help="per client and batch")
    parser.add_argument("--rounds", type=int, default=6, help="batches of each handler")
    args = parser.parse_args()
    teardown = setup_django_with_bench_db()
    from django.conf import settings
    from django.core.handlers.asgi import ASGIHandler

    from access.models import Cohort
    from config.asgi_handler import OneHopASGIHandler
    from generation.models import Job

    settings.VERNISSAGE_MODELS = [quick_model()]
    handlers = {"django": ASGIHandler(), "one_hop": OneHopASGIHandler()}
    tokens = make_testers(args.clients)
    Cohort.objects.update(max_queued_jobs=1_000_000)
    costs: dict[str, list[float]] = {name: [] for name in handlers}
    statuses: dict[int, int] = {}
    try:
        for app in handlers.values():  # warm-up: lazy imports, the pool's connections
            asyncio.run(_batch(app, tokens, 1, statuses))
        statuses.clear()
        for _ in range(args.rounds):
            for name, app in handlers.items():
                costs[name].append(asyncio.run(_batch(app, tokens, args.jobs, statuses)))
                Job.objects.all().delete()
    finally:
        from django.db import connection

        connection.close()
        teardown()
    medians = {name: statistics.median(values) for name, values in costs.items()}
    for name, values in costs.items():
        print(f"{name:8s} CPU ms per submission: " + ", ".join(f"{v:.1f}" for v in values))
    ratio = medians["one_hop"] / medians["django"]
    print(
        f"median: django {medians['django']:.2f} ms, one_hop {medians['one_hop']:.2f} ms "
        f"({ratio:.2f}x); statuses {statuses}"
    )
    summary = {
        "clients": args.clients,
        "requests_per_batch": args.clients * args.jobs,
        "rounds": args.rounds,
        "cpu_ms_per_submission": {name: round(m, 2) for name, m in medians.items()},
        "ratio": round(ratio, 3),
        "statuses": statuses,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
