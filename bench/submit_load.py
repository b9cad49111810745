"""Submitting under load: 20 testers submit at once through the REST API of one uvicorn (the
Procfile's command line) while a worker renders and a dispatcher ticks, all against the machine's
PostgreSQL and Redis (a throw-away `<name>_bench` database).

Per request it times the round trip of `POST /api/v1/jobs/`; afterwards it waits until every
accepted job has finished and counts the lost ones (accepted but not succeeded) and the doubles
(more than one output for a job). A submission must not wait on dispatch or on other submitters.

    python bench/submit_load.py                    # 20 clients x 10 jobs
    python bench/submit_load.py --clients 5 --jobs 4
    python bench/submit_load.py --web-workers 1      # uvicorn's WEB_CONCURRENCY (Procfile: 2)
    python bench/submit_load.py --render-elsewhere   # the worker paused while clients submit

The worker renders on this machine's CPU, a stand-in for a GPU host: by default it renders during
the submissions, on the same two cores. `--render-elsewhere` stops it (SIGSTOP) while the clients
submit and resumes it to drain the jobs, which is what the web server, PostgreSQL and the
dispatcher achieve when rendering happens on other hosts, as in production.

The machine is shared: the summary carries the load average before and after the submissions.
"""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first.

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _django import ROOT, procfile_command, setup_django_with_bench_db
from revocation import BIN, _listening, free_port, pct


def quick_model() -> dict:
    """The demo weights at the smallest size: the worker drains the backlog while it grows."""
    from django.conf import settings

    return {
        "name": "demo-quick",
        "source": str(settings.DEMO_MODEL_PATH),
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "defaults": {"num_frames": 5, "width": 64, "height": 64, "steps": 2, "guidance": 5},
        "limits": {"num_frames": 5, "width": 64, "height": 64, "steps": 2, "guidance": 5},
    }


def start_stack(env: dict, logs: Path) -> tuple[list[subprocess.Popen], int]:
    port = free_port()
    web, web_env = procfile_command("web", {**env, "VERNISSAGE_PORT": str(port)})
    commands = {
        "web": web,  # the Procfile's own line (WEB_CONCURRENCY processes)
        "worker": [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--queues",
            "gpu.demo-quick",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--hostname",
            "bench-submit@%h",
            "--loglevel",
            "INFO",
        ],
        "dispatcher": [str(BIN / "python"), "manage.py", "dispatcher"],
    }
    processes = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=web_env if name == "web" else env,
            stdout=(logs / f"submit-load-{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, command in commands.items()
    ]
    worker_log = logs / "submit-load-worker.log"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if _listening(port) and " ready." in worker_log.read_text():
            return processes, port
        time.sleep(0.2)
    raise SystemExit(f"the stack did not start within 90 s; see {logs}/submit-load-*.log")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's workers are children of its supervisor)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used: what a request costs the web server, whatever
    else the (shared) machine is doing."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    """Every process whose command name is `name` (the machine's PostgreSQL or Redis servers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cpu_by_role(processes: list[subprocess.Popen]) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack on this machine (the bench client is this
    process): where a submission's cores go."""
    web, worker, dispatcher = (process_tree(p.pid) for p in processes)
    return {
        "web": cpu_seconds(web),
        "worker": cpu_seconds(worker),
        "dispatcher": cpu_seconds(dispatcher),
        "postgres": cpu_seconds(pids_named("postgres")),
        "redis": cpu_seconds(pids_named("redis-server")),
        "client": cpu_seconds([os.getpid()]),
    }


def make_testers(count: int) -> list[str]:
    from access.models import Cohort, User
    from access.roles import TESTERS, role_grant
    from access.services import token_create

    cohort = Cohort.objects.create(
        name="Submit load",
        model_names=["demo-quick"],
        max_concurrent_jobs=1,
        max_queued_jobs=100,
        gpu_seconds_per_day=100_000,
        ends_at=datetime.now(UTC) + timedelta(days=1),
    )
    tokens = []
    for n in range(count):
        user = User.objects.create_user(
            username=f"load{n}", email=f"load{n}@bench.local", password=None, cohort=cohort
        )
        role_grant(user=user, role=TESTERS)
        scopes = ["jobs:read", "jobs:write"]
        tokens.append(token_create(user=user, name="load", scopes=scopes).plaintext)
    return tokens


def warm_up(port: int, tokens: list[str], rounds: int) -> None:
    """A server that has answered before, as in production: every uvicorn process has imported
    its lazy modules and opened its database pool before the timed submissions (reads at once
    from several clients, so the kernel hands them to every process)."""

    def read(token: str) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/jobs/", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (localhost)
            response.read()

    for _ in range(rounds):
        threads = [threading.Thread(target=read, args=(token,)) for token in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def client(port: int, token: str, jobs: int, start: threading.Event, out: list) -> None:
    start.wait()
    for n in range(jobs):
        body = json.dumps({"model": "demo-quick", "prompt": f"a lantern, take {n}"}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/jobs/",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (localhost)
                status, job_id = response.status, json.load(response).get("id")
        except urllib.error.HTTPError as refused:
            status, job_id = refused.code, None
        out.append((status, (time.perf_counter() - began) * 1000, job_id, n))


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def wait_finished(ids: list[str], timeout: float) -> dict[str, str]:
    from django.db import connections

    from generation.models import Job

    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = dict(Job.objects.filter(id__in=ids).values_list("id", "state"))
        states = {str(k): v for k, v in states.items()}
        if len(states) == len(ids) and all(s in Job.FINAL_STATES for s in states.values()):
            break
        connections.close_all()
        time.sleep(1)
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=10, help="per client")
    parser.add_argument("--drain-timeout", type=float, default=900)
    parser.add_argument(
        "--warm-up", type=int, default=3, help="rounds of reads (one per client) before timing"
    )
    parser.add_argument(
        "--web-workers", type=int, default=2, help="uvicorn processes (its WEB_CONCURRENCY)"
    )
    parser.add_argument(
        "--render-elsewhere",
        action="store_true",
        help="pause the worker while the clients submit (rendering on other hosts)",
    )
    args = parser.parse_args()
    teardown = setup_django_with_bench_db()
    from django.conf import settings
    from django.db import connection

    from generation.pipeline.demo import ensure_demo_model

    ensure_demo_model(settings.DEMO_MODEL_PATH)
    models = [quick_model()]
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "VERNISSAGE_MODELS": json.dumps(models),
        "HF_HUB_OFFLINE": "1",
        "VERNISSAGE_PREVIEW_EVERY": "0",
        "OMP_NUM_THREADS": "1",  # the stand-in "GPU" must not take every core from the web server
        "WEB_CONCURRENCY": str(args.web_workers),
    }
    settings.VERNISSAGE_MODELS = models
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    tokens = make_testers(args.clients)
    processes, port = start_stack(env, logs)
    results: list[tuple[int, float, str | None, int]] = []
    paused: list[int] = []
    try:
        warm_up(port, tokens, args.warm_up)
        load_before = os.getloadavg()[0]
        web = process_tree(processes[0].pid)
        web_cpu = cpu_seconds(web)
        cpu_before = cpu_by_role(processes)
        start = threading.Event()
        threads = [
            threading.Thread(target=client, args=(port, token, args.jobs, start, results))
            for token in tokens
        ]
        for thread in threads:
            thread.start()
        paused = process_tree(processes[1].pid) if args.render_elsewhere else []
        _signal_all(paused, signal.SIGSTOP)
        began = time.perf_counter()
        start.set()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        load_after = os.getloadavg()[0]
        web_cpu = cpu_seconds(web) - web_cpu
        cpu_after = cpu_by_role(processes)
        _signal_all(paused, signal.SIGCONT)
        accepted = [job_id for status, _, job_id, _ in results if status == 201 and job_id]
        states = wait_finished(accepted, args.drain_timeout)
        from review.models import Output

        outputs = Output.objects.filter(job_id__in=accepted).values_list("job_id", flat=True)
        doubles = len(outputs) - len(set(outputs))
    finally:
        _signal_all(paused, signal.SIGCONT)
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        connection.close()
        teardown()
    times = [ms for _, ms, _, _ in results]
    # Each client's first submission leaves in the same instant as every other client's.
    later = [ms for _, ms, _, n in results if n > 0]
    lost = sum(1 for job_id in accepted if states.get(job_id) != "succeeded")
    statuses: dict[int, int] = {}
    for status, _, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    print(
        f"{len(results)} submissions from {args.clients} clients to {args.web_workers} uvicorn "
        f"process(es) in {wall:.1f} s: {statuses}"
    )
    print(
        f"round trip p50 {statistics.median(times):.0f} ms, p95 {pct(times, 0.95):.0f} ms, "
        f"max {max(times):.0f} ms"
    )
    print(f"after draining: {lost} lost, {doubles} finished twice")
    print(f"p95 without each client's first submission: {pct(later, 0.95):.0f} ms")
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after submitting")
    print(f"web server CPU: {web_cpu * 1000 / len(results):.1f} ms per submission")
    spent = {role: cpu_after[role] - cpu_before[role] for role in cpu_before}
    print(
        f"CPU while submitting ({wall:.1f} s wall, {os.cpu_count()} cores): "
        + ", ".join(f"{role} {seconds:.1f} s" for role, seconds in spent.items())
    )
    summary = {
        "requests": len(results),
        "accepted": len(accepted),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(pct(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "p95_after_first_ms": round(pct(later, 0.95), 1),
        "lost": lost,
        "doubles": doubles,
        "clients": args.clients,
        "web_workers": args.web_workers,
        "render_elsewhere": args.render_elsewhere,
        "web_cpu_ms": round(web_cpu * 1000 / len(results), 1),
        "cpu_s": {role: round(seconds, 2) for role, seconds in spent.items()},
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
    }
    print(json.dumps(summary))
    sys.exit(0 if lost == 0 and doubles == 0 else 1)


if __name__ == "__main__":
    main()
