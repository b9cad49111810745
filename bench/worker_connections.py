"""New PostgreSQL connections the worker and the dispatcher open per job, and while idle.

Starts a Celery worker and the dispatcher as the Procfile starts them (the demo model), against a
throw-away `<name>_bench` database next to DATABASE_URL and the Redis at REDIS_URL. Both load a
small hook module that appends a line for every new database connection (Django's
`connection_created` signal: process role, pid, thread) to a file. Then:

- idle: nothing queued for `--idle` seconds (the dispatcher ticks every 2 s);
- backlog: `--jobs` demo jobs queued at once, until every one is final.

Counts are connections opened in each phase, per job and per minute. Run it from the checkout
whose code it should measure (copy it into another checkout to measure that one):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vernissage REDIS_URL=redis://127.0.0.1:6379/7 \\
        python bench/worker_connections.py

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ROOT, setup_django_with_bench_db

HOOK = """
import os, threading
from django.db.backends.signals import connection_created

def _log(sender, connection, **kwargs):
    with open(os.environ["CONNECTION_LOG"], "a") as log:
        thread = threading.current_thread().name
        log.write(f"{os.environ['CONNECTION_ROLE']} {os.getpid()} {thread}\\n")

connection_created.connect(_log, weak=False)
"""
DISPATCHER = (
    "import connection_log, django; django.setup(); "
    "from django.core.management import call_command; call_command('dispatcher')"
)
SHAPE = {"num_frames": 9, "width": 64, "height": 64, "steps": 2, "guidance": 5.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--idle", type=float, default=30.0, help="idle seconds measured")
    args = parser.parse_args()
    teardown = setup_django_with_bench_db()
    try:
        with tempfile.TemporaryDirectory(prefix="vernissage-connections-") as scratch:
            return run(args, Path(scratch))
    finally:
        teardown()


def run(args: argparse.Namespace, scratch: Path) -> int:
    from django.db import connection

    from generation.pipeline.demo import ensure_demo_model

    (scratch / "connection_log.py").write_text(HOOK)
    log = scratch / "connections.log"
    log.touch()
    ensure_demo_model(scratch / "models" / "demo-wan-tiny")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "VERNISSAGE_DATA_DIR": str(scratch / "data"),
        "VERNISSAGE_MODELS_DIR": str(scratch / "models"),
        "VERNISSAGE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{scratch}:{ROOT}",
        "CONNECTION_LOG": str(log),
    }
    worker_command = [
        str(Path(sys.executable).parent / "celery"),
        *("-A", "config", "worker", "--queues", "gpu.demo", "--pool", "prefork"),
        *("--concurrency", "1", "--hostname", "connections@%h", "--without-mingle"),
        *("--without-gossip", "--loglevel", "INFO", "--include", "connection_log"),
    ]
    worker_log = scratch / "worker.log"
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            worker_command,
            cwd=ROOT,
            env={**env, "CONNECTION_ROLE": "worker"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    dispatcher = subprocess.Popen(
        [sys.executable, "-c", DISPATCHER],
        cwd=ROOT,
        env={**env, "CONNECTION_ROLE": "dispatcher"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait(lambda: " ready." in worker_log.read_text(errors="replace"), 180, "the worker")
        owner = bench_owner()
        finish(queue_jobs(owner, 1))  # warm-up: the pool child loads the pipeline
        time.sleep(3)
        idle_start, started = len(lines(log)), time.monotonic()
        time.sleep(args.idle)
        idle = Counter(role for role, *_ in lines(log)[idle_start:])
        idle_minutes = (time.monotonic() - started) / 60
        backlog_start, started = len(lines(log)), time.monotonic()
        finish(queue_jobs(owner, args.jobs))
        time.sleep(3)  # the encode of the last job, where the worker finishes after the task
        backlog = Counter(role for role, *_ in lines(log)[backlog_start:])
        threads = Counter(thread for _, _, thread in lines(log)[backlog_start:])
        backlog_s = time.monotonic() - started
    finally:
        for process in (worker, dispatcher):
            process.terminate()
        for process in (worker, dispatcher):
            process.wait(timeout=120)
    per_job = {role: backlog[role] / args.jobs for role in ("worker", "dispatcher")}
    summary = {
        "jobs": args.jobs,
        "worker_connections_per_job": round(per_job["worker"], 2),
        "dispatcher_connections_per_job": round(per_job["dispatcher"], 2),
        "backlog_s": round(backlog_s, 1),
        "idle_dispatcher_connections_per_min": round(idle["dispatcher"] / idle_minutes, 1),
        "idle_worker_connections_per_min": round(idle["worker"] / idle_minutes, 1),
        "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
    print(
        f"backlog of {args.jobs} jobs in {backlog_s:.1f} s: new connections {dict(backlog)} "
        f"(by thread: {dict(threads)})"
    )
    print(f"idle {args.idle:.0f} s: new connections {dict(idle)}")
    print(json.dumps(summary))
    return 0


def lines(log: Path) -> list[list[str]]:
    return [line.split(" ", 2) for line in log.read_text().splitlines() if line.count(" ") >= 2]


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise SystemExit(f"worker_connections: timed out waiting for {what}")


def bench_owner():
    from access.models import User

    return User.objects.create_user(
        username="conn-bench", email="conn-bench@bench.local", is_staff=True
    )


def queue_jobs(owner, count: int) -> list:
    from generation.models import Job

    return [
        Job.objects.create(owner=owner, model_name="demo", prompt=f"job {n}", seed=n, **SHAPE)
        for n in range(count)
    ]


def finish(jobs: list) -> None:
    from generation.models import Job

    ids = [job.id for job in jobs]
    wait(
        lambda: Job.objects.filter(id__in=ids, state__in=Job.FINAL_STATES).count() == len(ids),
        600,
        f"{len(ids)} jobs to end",
    )
    failed = Job.objects.filter(id__in=ids).exclude(state=Job.State.SUCCEEDED)
    if failed.exists():
        raise SystemExit(f"worker_connections: a job did not succeed: {failed.first().error}")


if __name__ == "__main__":
    sys.exit(main())
