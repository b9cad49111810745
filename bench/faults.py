"""Fault injection against the real stack, on private services it may kill.

Starts its own PostgreSQL cluster (`initdb` + `pg_ctl`, as the `postgres` user) and its own Redis
(no persistence: a restart loses every message, the worst case), then a Celery worker and the
dispatcher exactly as the Procfile starts them, against a data folder of its own. Each scenario
queues a backlog of jobs, injects one fault at a chosen phase, and waits for every job to end:

- the worker's pool child SIGKILLed mid-render;
- the whole worker SIGKILLed mid-render (parent stopped first, so nothing is requeued or acked),
  then started again;
- the dispatcher SIGKILLed during a backlog, then started again (as a restart policy would);
- a job committed as dispatched whose message was never sent (the state a dispatcher killed
  between its commit and its send leaves: the row is written here directly);
- Redis killed and restarted empty during a backlog;
- PostgreSQL stopped for 10 s while a job renders, and while one finalizes (after its last step).

A sampler records, twice a second, whether the worker stood idle while jobs waited and every
service was up ("stuck"). Afterwards the invariants are checked with SQL and a storage scan: every
job final, one output per succeeded job, no file without a row and no row without its files, GPU
seconds charged to succeeded jobs only, no scratch folders left.

    python bench/faults.py            # all scenarios, about 10 minutes on 2 cores
    python bench/faults.py --only redis_restart,postgres_render
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.private_redis import PrivateRedis  # noqa: E402 (needs the repository on the path)

BIN = Path(sys.executable).parent
PG_BIN = next(Path("/usr/lib/postgresql").glob("*/bin"), None)
MODEL = "demo-slow"
QUEUE = f"gpu.{MODEL}"
STUCK_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(Exception):
            if value := predicate():
                return value
        time.sleep(0.2)
    raise SystemExit(f"faults: timed out after {timeout:.0f} s waiting for {what}")


# --- private services -------------------------------------------------------------------------


class PrivatePostgres:
    def __init__(self, root: Path) -> None:
        if PG_BIN is None:
            raise SystemExit(
                "faults: PostgreSQL server binaries not found under /usr/lib/postgresql"
            )
        self.dir, self.port = root / "pg", free_port()
        self.dir.mkdir()
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(
            [PG_BIN / "initdb", "-D", self.dir / "data", "-A", "trust", "-U", "postgres"]
        )
        self.start()
        self._as_postgres(
            [PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "vernissage"]
        )
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/vernissage"

    def _as_postgres(self, args: list) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, args)],
            check=True,
            capture_output=True,
            cwd=self.dir,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            [
                PG_BIN / "pg_ctl",
                "-D",
                self.dir / "data",
                "-l",
                self.dir / "log",
                "-o",
                options,
                "-w",
                "start",
            ]
        )

    def stop(self) -> None:
        self._as_postgres([PG_BIN / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop"])


# --- the stack ---------------------------------------------------------------------------------


class Service:
    def __init__(self, name: str, args: list[str], env: dict, logs: Path) -> None:
        self.name, self.args, self.env, self.logs = name, args, env, logs
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.logs / f"faults-{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def log_text(self) -> str:
        return (self.logs / f"faults-{self.name}-{self.starts}.log").read_text(errors="replace")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def child(self) -> int | None:
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return int(found[0]) if len(found) == 1 else None


def slow_model(source: str) -> dict:
    shape = {"num_frames": 17, "width": 256, "height": 256, "steps": 10, "guidance": 5}
    return {
        "name": MODEL,
        "source": source,
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "defaults": shape,
        "limits": shape,
    }


# --- the sampler -------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Twice a second: is the GPU idle (no run beating) while jobs wait, every service up?"""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop_event, self.outage = threading.Event(), threading.Event()
        self.idle_since: float | None = None
        self.longest_idle = 0.0
        self.stuck = 0

    def run(self) -> None:
        from datetime import timedelta

        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        from generation.models import Job

        while not self.stop_event.wait(0.5):
            if self.outage.is_set():
                self.idle_since = None
                continue
            try:
                # A run counts only while its worker beats: a dead worker's row still says
                # RUNNING until the reconciler notices, and that wait is what is measured.
                beating = timezone.now() - timedelta(seconds=2 * settings.JOB_HEARTBEAT_SECONDS)
                running = Job.objects.filter(
                    state=Job.State.RUNNING, heartbeat_at__gte=beating
                ).exists()
                waiting = Job.objects.filter(state=Job.State.QUEUED).exists()
            except Exception:  # the database is being faulted
                connection.close()
                self.idle_since = None
                continue
            now = time.monotonic()
            if waiting and not running:
                self.idle_since = self.idle_since or now
                self.longest_idle = max(self.longest_idle, now - self.idle_since)
            else:
                if self.idle_since and now - self.idle_since > STUCK_SECONDS:
                    self.stuck += 1
                self.idle_since = None
        connection.close()


# --- scenarios -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, env: dict, pg: PrivatePostgres, redis: PrivateRedis, logs: Path) -> None:
        self.env, self.pg, self.redis, self.logs = env, pg, redis, logs
        worker_args = [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--queues",
            QUEUE,
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--hostname",
            "faults@%h",
            "--loglevel",
            "INFO",
        ]
        self.worker = Service("worker", worker_args, env, logs)
        self.dispatcher = Service(
            "dispatcher", [str(BIN / "python"), "manage.py", "dispatcher"], env, logs
        )
        self.sampler = Sampler()
        self.faults = 0
        self.testers: list = []
        self.results: dict[str, dict] = {}

    def start(self) -> None:
        self.worker.start()
        wait_until(lambda: " ready." in self.worker.log_text(), 120, "the worker")
        self.dispatcher.start()
        self.sampler.start()

    def submit(self, count: int) -> list:
        from django.db import connection

        from generation.services import JobRequest, job_submit

        jobs = []
        for n in range(count):
            owner = self.testers[n % len(self.testers)]
            job, _ = job_submit(owner=owner, request=JobRequest(model_name=MODEL, prompt=f"f{n}"))
            jobs.append(job)
        connection.close()
        return jobs

    def running(self, min_step: int = 2, exact_last: bool = False):
        from django.db import connection

        from generation.models import Job

        def find():
            query = Job.objects.filter(state=Job.State.RUNNING, progress_step__gte=min_step)
            if exact_last:
                query = query.filter(progress_step=10)
            return query.first()

        try:
            return wait_until(find, 180, "a job to reach the chosen phase")
        finally:
            connection.close()

    def settle(self, jobs: list, timeout: float = 600) -> dict:
        from django.db import connection

        from generation.models import Job

        ids = [job.id for job in jobs]
        started = time.monotonic()

        def done():
            final = Job.objects.filter(id__in=ids, state__in=Job.FINAL_STATES).count()
            connection.close()
            return final == len(ids)

        wait_until(done, timeout, f"{len(ids)} jobs to end")
        rows = list(Job.objects.filter(id__in=ids).values_list("state", "attempt"))
        connection.close()
        return {
            "jobs": len(ids),
            "succeeded": sum(1 for state, _ in rows if state == "succeeded"),
            "other": sorted({state for state, _ in rows if state != "succeeded"}),
            "max_attempt": max(attempt for _, attempt in rows),
            "settle_s": round(time.monotonic() - started, 1),
        }

    # Each scenario: a backlog, one fault, every job to an end.

    def child_kill(self) -> dict:
        jobs = self.submit(3)
        self.running()
        os.kill(wait_until(self.worker.child, 10, "the pool child"), signal.SIGKILL)
        self.faults += 1
        return self.settle(jobs)

    def worker_kill(self) -> dict:
        jobs = self.submit(3)
        self.running()
        child = wait_until(self.worker.child, 10, "the pool child")
        os.kill(self.worker.process.pid, signal.SIGSTOP)
        os.kill(child, signal.SIGKILL)
        self.worker.kill()
        self.faults += 1
        time.sleep(2)
        self.worker.start()  # a restart policy's job
        return self.settle(jobs)

    def dispatcher_kill(self) -> dict:
        jobs = self.submit(4)
        for _ in range(3):
            time.sleep(random.uniform(0.5, 4))  # a random phase
            self.dispatcher.kill()
            self.faults += 1
            time.sleep(1)
            self.dispatcher.start()
        return self.settle(jobs)

    def commit_without_send(self) -> dict:
        import uuid

        from django.db import connection
        from django.utils import timezone

        from generation.models import Job

        self.dispatcher.stop()  # nothing may send this job a message
        [job] = self.submit(1)
        Job.objects.filter(id=job.id).update(dispatch_id=uuid.uuid4(), dispatched_at=timezone.now())
        connection.close()
        self.faults += 1
        started = time.monotonic()
        self.dispatcher.start()

        def claimed():
            value = Job.objects.filter(id=job.id, attempt__gte=1).exists()
            connection.close()
            return value

        wait_until(claimed, 120, "the job whose message was never sent to run")
        result = self.settle([job])
        result["recovered_s"] = round(time.monotonic() - started, 1)
        return result

    def redis_restart(self) -> dict:
        jobs = self.submit(4)
        self.running()
        self.sampler.outage.set()
        self.redis.kill()
        self.faults += 1
        time.sleep(3)
        self.redis.start()
        self.sampler.outage.clear()
        return self.settle(jobs)

    def _postgres_outage(self, *, exact_last: bool) -> dict:
        jobs = self.submit(3)
        self.running(min_step=10 if exact_last else 2, exact_last=exact_last)
        self.sampler.outage.set()
        self.pg.stop()
        self.faults += 1
        time.sleep(10)
        self.pg.start()
        self.sampler.outage.clear()
        return self.settle(jobs)

    def postgres_render(self) -> dict:
        return self._postgres_outage(exact_last=False)

    def postgres_finalize(self) -> dict:
        return self._postgres_outage(exact_last=True)

    # The checks

    def invariants(self, outputs_dir: Path, scratch: Path) -> dict:
        from datetime import timedelta

        from django.db import connection
        from django.db.models import Count

        from generation.models import Job
        from review.models import Output
        from review.services import output_files_sweep

        names = set(Output.objects.values_list("video_name", flat=True))
        names |= set(Output.objects.values_list("poster_name", flat=True))
        on_disk = {
            str(path.relative_to(outputs_dir)) for path in outputs_dir.rglob("*") if path.is_file()
        }
        swept = output_files_sweep(grace=timedelta(0))
        succeeded = Job.objects.filter(state=Job.State.SUCCEEDED)
        report = {
            "not_final": Job.objects.exclude(state__in=Job.FINAL_STATES).count(),
            "succeeded_without_output": succeeded.filter(output__isnull=True).count(),
            "outputs_per_job_max": max(
                [
                    1,
                    *Output.objects.values("job_id")
                    .annotate(n=Count("id"))
                    .values_list("n", flat=True),
                ]
            ),
            "files_without_row": len(on_disk - names),
            "rows_without_file": len(names - on_disk),
            "swept_orphans": swept,
            "charged_unsucceeded": Job.objects.exclude(state=Job.State.SUCCEEDED)
            .filter(gpu_seconds__gt=0)
            .count(),
            "scratch_left": len(list(scratch.glob("vernissage-*"))),
        }
        connection.close()
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scenarios = [
        "child_kill",
        "worker_kill",
        "dispatcher_kill",
        "commit_without_send",
        "redis_restart",
        "postgres_render",
        "postgres_finalize",
    ]
    parser.add_argument("--only", default=",".join(scenarios))
    args = parser.parse_args()
    chosen = [name for name in args.only.split(",") if name]
    unknown = set(chosen) - set(scenarios)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")

    root = Path(tempfile.mkdtemp(prefix="vernissage-faults-"))
    os.chmod(root, 0o755)  # noqa: S103 (the postgres user must reach its own folder)
    pg, redis = PrivatePostgres(root), PrivateRedis(root / "redis")
    redis.start()
    data, scratch, logs = root / "data", root / "scratch", ROOT / "test-artifacts"
    scratch.mkdir()
    logs.mkdir(exist_ok=True)
    demo = ROOT / "var" / "models" / "demo"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "VERNISSAGE_DATA_DIR": str(data),
        "VERNISSAGE_MODELS_DIR": str(demo.parent),
        "VERNISSAGE_MODELS": json.dumps([slow_model(str(demo))]),
        "VERNISSAGE_PREVIEW_EVERY": "0",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TMPDIR": str(scratch),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from generation.pipeline.demo import ensure_demo_model

    ensure_demo_model(demo)
    call_command("migrate", verbosity=0)
    bench = Bench(env, pg, redis, logs)
    bench.testers = make_testers(3)
    bench.start()
    try:
        for name in chosen:
            began = time.monotonic()
            bench.results[name] = getattr(bench, name)()
            print(f"{name:20} {bench.results[name]}  ({time.monotonic() - began:.0f} s)")
        bench.sampler.stop_event.set()
        bench.sampler.join()
        checks = bench.invariants(Path(settings.OUTPUTS_DIR), scratch)
    finally:
        bench.worker.stop()
        bench.dispatcher.stop()
        with suppress(Exception):
            pg.stop()
        with suppress(Exception):
            redis.kill()
        shutil.rmtree(root, ignore_errors=True)
    jobs = sum(r["jobs"] for r in bench.results.values())
    lost = sum(r["jobs"] - r["succeeded"] for r in bench.results.values())
    print("invariants:", checks)
    print(
        f"{bench.faults} faults, {jobs} jobs, {lost} not succeeded, {bench.sampler.stuck} stuck "
        f"> {STUCK_SECONDS} s (longest idle with work waiting {bench.sampler.longest_idle:.1f} s)"
    )
    summary = {
        "faults": bench.faults,
        "jobs": jobs,
        "lost": lost,
        "stuck_over_30s": bench.sampler.stuck,
        "longest_idle_s": round(bench.sampler.longest_idle, 1),
        "orphans": checks["files_without_row"],
        "rows_without_file": checks["rows_without_file"],
        "double_finalisations": checks["outputs_per_job_max"] - 1,
        "charged_unsucceeded": checks["charged_unsucceeded"],
        "scratch_left": checks["scratch_left"],
        "not_final": checks["not_final"],
    }
    print(json.dumps(summary))
    broken = (
        lost
        or bench.sampler.stuck
        or any(
            summary[key]
            for key in (
                "orphans",
                "rows_without_file",
                "double_finalisations",
                "charged_unsucceeded",
                "scratch_left",
                "not_final",
            )
        )
    )
    sys.exit(1 if broken else 0)


def make_testers(count: int) -> list:
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from access.models import Cohort, User
    from access.roles import TESTERS, role_grant

    cohort = Cohort.objects.create(
        name="Faults",
        model_names=[MODEL],
        max_concurrent_jobs=2,
        max_queued_jobs=50,
        gpu_seconds_per_day=100_000,
        ends_at=datetime.now(UTC) + timedelta(days=1),
    )
    testers = []
    for n in range(count):
        user = User.objects.create_user(
            username=f"fault{n}", email=f"fault{n}@bench.local", password=None, cohort=cohort
        )
        role_grant(user=user, role=TESTERS)
        testers.append(user)
    connection.close()
    return testers


if __name__ == "__main__":
    main()
