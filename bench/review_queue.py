"""Review queue latency with 100,000 outputs (10,000 awaiting review) in PostgreSQL.

Renders the review queue page (full middleware, MFA gate, template) and the review queue API
list 200 times each through Django's test client, in process, and prints p50/p95 and the number
of SQL queries per page. Uses a throw-away `<name>_bench` database beside DATABASE_URL's.

    python bench/review_queue.py   # the machine's PostgreSQL, or DATABASE_URL
"""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first (and the pipeline pulls in torch, which only the GPU paths should pay for).

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import timedelta

from _django import setup_django_with_bench_db

OUTPUTS, PENDING, TESTERS, RUNS, BATCH = 100_000, 10_000, 500, 200, 5_000


def seed() -> User:  # noqa: F821
    from django.utils import timezone

    from access.models import Cohort, User
    from access.roles import REVIEWERS, role_grant
    from generation.models import Job
    from review.models import Output

    now = timezone.now()
    cohort = Cohort.objects.create(
        name="Bench", model_names=["demo"], ends_at=now + timedelta(days=9)
    )
    User.objects.bulk_create(
        User(username=f"t{i}", email=f"t{i}@bench.local", cohort=cohort) for i in range(TESTERS)
    )
    testers = list(User.objects.filter(cohort=cohort))
    for start in range(0, OUTPUTS, BATCH):
        jobs, outputs = [], []
        for i in range(start, min(start + BATCH, OUTPUTS)):
            job = Job(
                id=uuid.uuid4(),
                owner=testers[i % TESTERS],
                model_name="demo",
                prompt=f"bench prompt {i}",
                seed=i,
                num_frames=9,
                width=64,
                height=64,
                steps=4,
                guidance=5.0,
                state=Job.State.SUCCEEDED,
            )
            jobs.append(job)
            pending = i >= OUTPUTS - PENDING
            outputs.append(
                Output(
                    job=job,
                    video_name=f"x/{i}.mp4",
                    poster_name=f"x/{i}.jpg",
                    sha256="0" * 64,
                    size_bytes=1,
                    width=64,
                    height=64,
                    num_frames=9,
                    fps=8,
                    state=Output.State.PENDING if pending else Output.State.APPROVED,
                    decided_at=None if pending else now,
                )
            )
        Job.objects.bulk_create(jobs)
        Output.objects.bulk_create(outputs)
    Output.objects.update(created_at=now - timedelta(hours=1))
    reviewer = User.objects.create_user(username="bench-reviewer", email="r@bench.local")
    role_grant(user=reviewer, role=REVIEWERS)
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(reviewer, generate_totp_secret())
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return reviewer


def measure(client, url: str) -> tuple[list[float], int]:
    from django.db import connection

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        assert client.get(url).status_code == 200
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times, len(queries)


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * len(values)) - 1]


def main() -> None:
    teardown = setup_django_with_bench_db()
    try:
        from django.test import Client

        started = time.perf_counter()
        reviewer = seed()
        print(
            f"seeded {OUTPUTS} outputs ({PENDING} pending) in {time.perf_counter() - started:.1f} s"
        )
        client = Client(SERVER_NAME="localhost")
        client.force_login(reviewer)
        page, page_queries = measure(client, "/review/")
        api, _ = measure(client, "/api/v1/review/queue/")
        print(f"{'':14}{'p50 ms':>10}{'p95 ms':>10}")
        print(f"{'queue page':14}{statistics.median(page):10.1f}{p95(page):10.1f}")
        print(f"{'queue API':14}{statistics.median(api):10.1f}{p95(api):10.1f}")
        print(
            json.dumps(
                {
                    "outputs": OUTPUTS,
                    "pending": PENDING,
                    "page_p50_ms": round(statistics.median(page), 1),
                    "page_p95_ms": round(p95(page), 1),
                    "api_p50_ms": round(statistics.median(api), 1),
                    "api_p95_ms": round(p95(api), 1),
                    "queries_per_page": page_queries,
                }
            )
        )
    finally:
        teardown()


if __name__ == "__main__":
    main()
