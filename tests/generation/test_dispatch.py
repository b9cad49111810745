"""Fair dispatch of waiting jobs to GPU slots, queue positions and the dispatcher command, against
the real database (`generation.services.dispatch`)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from access.models import Cohort
from generation.models import Job
from generation.selectors import dispatch_order, queue_estimates, waiting_jobs
from generation.services import (
    jobs_dispatch,
)
from tests.factories import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def testers(make_user):
    return [make_user(f"{name}@example.com") for name in "abc"]


def _queue(owner, count: int, label: str) -> list[Job]:
    return [make_job(owner, prompt=f"{label}{i + 1}") for i in range(count)]


def _order() -> list[str]:
    waiting = list(waiting_jobs("demo"))
    return [job.prompt for job in dispatch_order(waiting)]


def test_one_testers_backlog_does_not_block_the_others_first_jobs(testers):
    a, b, c = testers
    _queue(a, 3, "A")
    _queue(b, 2, "B")
    _queue(c, 1, "C")

    assert _order() == ["A1", "B1", "C1", "A2", "B2", "A3"]


def test_a_heavier_cohort_weight_gets_more_turns(testers, cohort):
    a, b, _ = testers
    heavy = Cohort.objects.create(
        name="Heavy",
        model_names=["demo"],
        dispatch_weight=2.0,
        ends_at=timezone.now() + timedelta(days=9),
    )
    b.cohort = heavy
    b.save()
    _queue(a, 2, "A")
    _queue(b, 4, "B")

    assert _order() == ["A1", "B1", "B2", "A2", "B3", "B4"]


def test_the_red_team_lane_takes_turns_with_the_artists(testers):
    a, b, c = testers
    red = Cohort.objects.create(
        name="Red",
        lane=Cohort.Lane.RED_TEAM,
        model_names=["demo"],
        ends_at=timezone.now() + timedelta(days=9),
    )
    c.cohort = red
    c.save()
    _queue(a, 2, "A")
    _queue(b, 2, "B")
    _queue(c, 2, "R")

    assert _order() == ["A1", "R1", "B1", "R2", "A2", "B2"]


def test_dispatch_fills_only_the_models_slots(
    tester, other_tester, dispatched, django_capture_on_commit_callbacks
):
    _queue(tester, 3, "A")
    _queue(other_tester, 3, "B")

    with django_capture_on_commit_callbacks(execute=True):
        first = jobs_dispatch(model_name="demo")
        again = jobs_dispatch(model_name="demo")

    # One slot: one job running and one in the worker's prefetch buffer.
    assert [job.prompt for job in first] == ["A1", "B1"] and again == []
    assert len(dispatched) == 2 and all(len(args) == 2 for args, _queue in dispatched)


def test_dispatch_respects_each_testers_concurrency(tester, cohort, settings, dispatched):
    settings.VERNISSAGE_MODELS = [{**settings.VERNISSAGE_MODELS[0], "slots": 4}]
    cohort.max_concurrent_jobs = 1
    cohort.save()
    _queue(tester, 3, "A")

    assert [job.prompt for job in jobs_dispatch(model_name="demo")] == ["A1"]


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_never_hand_out_the_same_job(make_user, settings, dispatched):
    settings.VERNISSAGE_MODELS = [{**settings.VERNISSAGE_MODELS[0], "slots": 20}]
    for n in range(10):
        _queue(make_user(f"t{n}@example.com"), 4, f"T{n}-")
    chosen, barrier = [], threading.Barrier(4)

    def dispatcher():
        barrier.wait()
        try:
            chosen.extend(job.id for job in jobs_dispatch(model_name="demo"))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(chosen) == len(set(chosen))
    assert Job.objects.filter(dispatched_at__isnull=False).count() == len(chosen) <= 40


# --- queue position and ETA ----------------------------------------------------------------------


def test_waiting_jobs_know_their_position_and_eta(tester, other_tester, dispatched):
    done = make_job(tester, state="succeeded")
    Job.objects.filter(id=done.id).update(
        started_at=timezone.now() - timedelta(seconds=40), finished_at=timezone.now()
    )
    _queue(tester, 2, "A")
    _queue(other_tester, 1, "B")

    estimates = queue_estimates("demo", slots=1)
    by_prompt = {Job.objects.get(id=i).prompt: e for i, e in estimates.items()}

    assert {p: e.position for p, e in by_prompt.items()} == {"A1": 0, "B1": 1, "A2": 2}
    assert [by_prompt[p].eta_s for p in ("A1", "B1", "A2")] == [40.0, 80.0, 120.0]


def test_the_studio_and_api_show_queue_positions(client, tester):
    make_job(tester)
    client.force_login(tester)

    [payload] = client.get(reverse("api_jobs")).json()["results"]

    assert payload["queue_position"] == 0


# --- the dispatcher command ----------------------------------------------------------------------


def test_the_dispatcher_command_runs_one_tick(
    tester, dispatched, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    make_job(tester)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("dispatcher", "--once")

    assert len(dispatched) == 1
