"""Fair dispatch, cancel, queue position and the reconciler, against the real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry, Cohort
from generation.models import Job
from generation.selectors import dispatch_order, queue_estimates, waiting_jobs
from generation.services import (
    JobRejected,
    job_cancel,
    job_record_progress,
    job_start,
    jobs_dispatch,
    jobs_reconcile,
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


# --- cancel ------------------------------------------------------------------------------------


def test_a_cancelled_queued_job_never_starts(tester, dispatched):
    job = make_job(tester)
    [dispatched] = jobs_dispatch(model_name="demo")

    job_cancel(job=job, by=tester)

    assert job_start(job_id=job.id, dispatch_id=dispatched.dispatch_id, worker="w") is None
    job.refresh_from_db()
    assert (job.state, job.attempt, job.error) == ("cancelled", 0, "Cancelled by you.")


def test_a_cancelled_running_job_stops_at_its_next_step(tester, dispatched):
    make_job(tester)
    [dispatched] = jobs_dispatch(model_name="demo")
    running = job_start(job_id=dispatched.id, dispatch_id=dispatched.dispatch_id, worker="w")
    assert job_record_progress(job=running, step=1) is True

    job_cancel(job=running, by=tester)

    assert job_record_progress(job=running, step=2) is False


def test_staff_can_cancel_anyones_job_and_it_is_audited(tester, reviewer):
    job = make_job(tester)

    job_cancel(job=job, by=reviewer, reason="abusive prompt")

    entry = AuditEntry.objects.get(action="generation.job.cancelled")
    assert entry.details == {"reason": "abusive prompt"} and entry.actor == reviewer


def test_another_tester_cannot_cancel_my_job(client, tester, other_tester):
    job = make_job(tester)
    client.force_login(other_tester)

    response = client.post(reverse("job_cancel", kwargs={"job_id": job.id}))

    assert response.status_code == 404
    job.refresh_from_db()
    assert job.state == "queued"


def test_a_finished_job_cannot_be_cancelled(tester):
    with pytest.raises(JobRejected, match="already ended"):
        job_cancel(job=make_job(tester, state="succeeded"), by=tester)


def test_the_api_cancels_with_the_jobs_write_scope(client, tester):
    job = make_job(tester)
    client.force_login(tester)

    response = client.post(reverse("api_job_cancel", kwargs={"job_id": job.id}))

    assert response.status_code == 200 and response.json()["state"] == "cancelled"


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


# --- reconciler --------------------------------------------------------------------------------


def test_a_stalled_running_job_is_requeued_and_its_old_message_ignored(
    tester, settings, dispatched
):
    settings.JOB_STALL_SECONDS = 60
    make_job(tester)
    [first] = jobs_dispatch(model_name="demo")
    job_start(job_id=first.id, dispatch_id=first.dispatch_id, worker="dead")
    Job.objects.filter(id=first.id).update(updated_at=timezone.now() - timedelta(seconds=61))

    report = jobs_reconcile()

    job = Job.objects.get(id=first.id)
    assert report.requeued_stalled == 1 and report.dispatched == 1
    assert job.state == "queued" and job.dispatch_id not in (None, first.dispatch_id)
    # The dead run's message comes back late: it must not start a second run.
    assert job_start(job_id=job.id, dispatch_id=first.dispatch_id, worker="late") is None
    assert job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="new").attempt == 2


def test_a_lost_message_is_dispatched_again(
    tester, settings, dispatched, django_capture_on_commit_callbacks
):
    settings.JOB_DISPATCH_TIMEOUT_SECONDS = 60
    make_job(tester)
    with django_capture_on_commit_callbacks(execute=True):
        [first] = jobs_dispatch(model_name="demo")
    Job.objects.filter(id=first.id).update(dispatched_at=timezone.now() - timedelta(seconds=61))

    with django_capture_on_commit_callbacks(execute=True):
        report = jobs_reconcile()

    assert (report.redispatched_lost, report.dispatched) == (1, 1)
    assert len(dispatched) == 2 and dispatched[0][0][1] != dispatched[1][0][1]


def test_a_job_waiting_past_its_deadline_is_cancelled_with_a_reason(tester, dispatched):
    job = make_job(tester)
    Job.objects.filter(id=job.id).update(wait_deadline=timezone.now() - timedelta(seconds=1))

    assert jobs_reconcile().expired == 1
    job.refresh_from_db()
    assert job.state == "cancelled" and "Waited longer" in job.error


def test_a_stalled_job_out_of_attempts_fails(tester, settings, dispatched):
    settings.JOB_STALL_SECONDS, settings.JOB_MAX_ATTEMPTS = 60, 1
    make_job(tester)
    [first] = jobs_dispatch(model_name="demo")
    job_start(job_id=first.id, dispatch_id=first.dispatch_id, worker="dead")
    Job.objects.filter(id=first.id).update(updated_at=timezone.now() - timedelta(seconds=61))

    jobs_reconcile()

    job = Job.objects.get(id=first.id)
    assert job.state == "failed" and "1 times" in job.error


def test_the_dispatcher_command_runs_one_tick(
    tester, dispatched, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    make_job(tester)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("dispatcher", "--once")

    assert len(dispatched) == 1


# --- failures ----------------------------------------------------------------------------------


def _running(tester):
    make_job(tester)
    [job] = jobs_dispatch(model_name="demo")
    return job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w")


def test_a_transient_error_puts_the_job_back_in_the_queue(tester, dispatched, monkeypatch):
    from generation import worker

    job = _running(tester)
    monkeypatch.setattr(worker, "job_start", lambda **kwargs: Job.objects.get(id=job.id))
    monkeypatch.setattr(
        worker, "_render_and_store", lambda job, spec: (_ for _ in ()).throw(ConnectionError("nfs"))
    )

    result = worker.job_execute(job_id=job.id, dispatch_id=job.dispatch_id, worker="w")

    job.refresh_from_db()
    assert result == "retrying"
    assert (job.state, job.dispatch_id, job.gpu_seconds) == ("queued", None, 0.0)
    assert "ConnectionError" in job.error


def test_a_transient_error_on_the_last_attempt_fails_the_job(tester, dispatched, settings):
    from generation.services import job_retry

    settings.JOB_MAX_ATTEMPTS = 1
    job = _running(tester)

    assert job_retry(job=job, reason="Generation failed (TimeoutError).") is False
    job.refresh_from_db()
    assert job.state == "failed" and "gave up after 1 attempts" in job.error


def test_an_ordinary_error_fails_the_job_with_a_readable_reason(tester, dispatched, monkeypatch):
    from generation import worker

    job = _running(tester)
    monkeypatch.setattr(worker, "job_start", lambda **kwargs: Job.objects.get(id=job.id))
    monkeypatch.setattr(
        worker,
        "_render_and_store",
        lambda job, spec: (_ for _ in ()).throw(RuntimeError("CUDA out of memory. Tried 2 GiB")),
    )

    assert worker.job_execute(job_id=job.id, dispatch_id=job.dispatch_id, worker="w") == "failed"
    job.refresh_from_db()
    assert job.state == "failed" and job.error.startswith("The GPU ran out of memory")


def test_a_stale_message_never_fails_a_healthy_last_attempt(tester, settings, dispatched):
    settings.JOB_MAX_ATTEMPTS, settings.JOB_STALL_SECONDS = 2, 60
    make_job(tester)
    [first] = jobs_dispatch(model_name="demo")
    job_start(job_id=first.id, dispatch_id=first.dispatch_id, worker="dead")
    Job.objects.filter(id=first.id).update(updated_at=timezone.now() - timedelta(seconds=61))
    jobs_reconcile()
    job = Job.objects.get(id=first.id)
    live = job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="new")
    assert live.attempt == 2

    # The dead run's message comes back after the visibility timeout.
    assert job_start(job_id=job.id, dispatch_id=first.dispatch_id, worker="late") is None

    job.refresh_from_db()
    assert (job.state, job.attempt) == ("running", 2)
    assert job_record_progress(job=live, step=1) is True
