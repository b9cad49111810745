"""Dispatch throughput and fairness: 10,000 queued jobs from 500 testers in PostgreSQL.

Drives the real `jobs_dispatch` (fair order, per-tester caps, SKIP LOCKED, advisory lock) until
every job has been handed out, finishing each dispatched batch as a worker would (a direct UPDATE,
no GPU), with the Celery send replaced by a no-op. Prints decisions per second and the largest
gap, at any moment, between the most- and least-served testers that still had jobs waiting
(perfect round-robin: 1). Uses a throw-away `<name>_bench` database beside DATABASE_URL's.

    python bench/dispatch.py   # the machine's PostgreSQL, or DATABASE_URL
"""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first (and the pipeline pulls in torch, which only the GPU paths should pay for).

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from datetime import timedelta

from _django import setup_django_with_bench_db

JOBS, TESTERS, SLOTS = 10_000, 500, 50


def seed() -> None:
    from django.utils import timezone

    from access.models import Cohort, User
    from generation.models import Job

    now = timezone.now()
    cohort = Cohort.objects.create(
        name="Bench",
        model_names=["demo"],
        max_concurrent_jobs=100,
        max_queued_jobs=100,
        ends_at=now + timedelta(days=9),
    )
    User.objects.bulk_create(
        User(username=f"t{i}", email=f"t{i}@bench.local", cohort=cohort) for i in range(TESTERS)
    )
    testers = list(User.objects.filter(cohort=cohort))
    # Submission order is random, and some testers submit far more than others.
    owners = [
        random.choice(testers[:50]) if random.random() < 0.5 else random.choice(testers)
        for _ in range(JOBS)
    ]
    Job.objects.bulk_create(
        Job(
            id=uuid.uuid4(),
            owner=owner,
            model_name="demo",
            prompt="bench",
            seed=i,
            num_frames=9,
            width=64,
            height=64,
            steps=4,
            guidance=5.0,
        )
        for i, owner in enumerate(owners)
    )
    Job.objects.update(created_at=now)  # equal ages: fairness must come from the order alone
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have done on a live database


def run() -> dict:
    from django.conf import settings
    from django.db import connection

    import generation.services.dispatch as services
    from generation.models import Job

    settings.VERNISSAGE_MODELS = [{**settings.VERNISSAGE_MODELS[0], "slots": SLOTS}]
    services._send = lambda job, queue: None  # no broker: we measure the decision, not transport
    services.publish_queue_positions = lambda **kwargs: None
    waiting = Counter(Job.objects.values_list("owner_id", flat=True))
    served: Counter = Counter()
    decisions, spent, max_gap = 0, 0.0, 0
    while True:
        started = time.perf_counter()
        chosen = services.jobs_dispatch(model_name="demo")
        spent += time.perf_counter() - started
        if not chosen:
            break
        decisions += len(chosen)
        for job in chosen:
            served[job.owner_id] += 1
        active = [owner for owner in waiting if served[owner] < waiting[owner]]
        if active:
            counts = [served[owner] for owner in active]
            max_gap = max(max_gap, max(counts) - min(counts))
        Job.objects.filter(id__in=[job.id for job in chosen]).update(state=Job.State.SUCCEEDED)
    connection.close()
    return {"decisions": decisions, "seconds": spent, "max_rank_gap": max_gap}


def main() -> None:
    teardown = setup_django_with_bench_db()
    try:
        random.seed(7)
        seed()
        result = run()
        per_s = result["decisions"] / result["seconds"]
        print(
            f"dispatched {result['decisions']} jobs of {TESTERS} testers in "
            f"{result['seconds']:.1f} s of dispatch time, {SLOTS} slots"
        )
        print(f"decisions/s {per_s:,.0f} (goal >= 1,000)   max rank gap {result['max_rank_gap']}")
        print(
            json.dumps(
                {
                    "jobs": JOBS,
                    "testers": TESTERS,
                    "decisions_per_s": round(per_s),
                    "max_rank_gap": result["max_rank_gap"],
                }
            )
        )
    finally:
        teardown()


if __name__ == "__main__":
    main()
