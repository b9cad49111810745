"""A job after submission (`generation.services.lifecycle`): claim, progress, finish, retry, cancel
and the reconciler, driven the way the worker, the pages and the dispatcher drive them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry
from generation.models import Job
from generation.services import (
    JobRejected,
    job_cancel,
    job_fail,
    job_record_progress,
    job_retry,
    job_start,
    jobs_dispatch,
    jobs_reconcile,
)
from generation.worker import job_finalize
from tests.factories import make_job, mark_dispatched

pytestmark = pytest.mark.django_db


# --- claim, progress, finish (the worker) ------------------------------------------------------


def test_a_job_is_claimed_once_and_only_the_current_attempt_may_finish_it(tester, settings):
    job = mark_dispatched(make_job(tester))
    first = job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w1")
    # The message is delivered again (the first worker died): a new attempt fences off the old.
    second = job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w2")

    assert (first.attempt, second.attempt) == (1, 2)
    assert job_record_progress(job=first, step=1) is False
    assert job_fail(job=first, reason="stale") is False
    assert job_record_progress(job=second, step=1) is True
    fields = {
        "video_name": "v.mp4",
        "poster_name": "p.jpg",
        "sha256": "0" * 64,
        "size_bytes": 1,
        "width": 32,
        "height": 32,
        "num_frames": 5,
        "fps": 8,
    }
    assert job_finalize(job=first, output_fields=fields, gpu_seconds=1.0) is False
    assert job_finalize(job=second, output_fields=fields, gpu_seconds=1.0) is True
    assert job_finalize(job=second, output_fields=fields, gpu_seconds=1.0) is False
    job.refresh_from_db()
    assert job.state == "succeeded" and job.output.state == "pending"


@pytest.mark.parametrize("state", ["succeeded", "failed", "cancelled"])
def test_a_final_job_is_never_started_again(tester, state):
    job = mark_dispatched(make_job(tester, state=state))

    assert job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w") is None
    job.refresh_from_db()
    assert job.state == state and job.attempt == 0


def test_a_job_whose_worker_keeps_dying_is_failed_with_a_reason(tester, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    job = mark_dispatched(make_job(tester))
    job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w1")
    job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w2")

    assert job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w3") is None
    job.refresh_from_db()
    assert job.state == "failed" and "stopped during this job 2 times" in job.error


def test_a_message_with_a_stale_dispatch_id_never_runs_the_job(tester):
    job = mark_dispatched(make_job(tester))

    assert job_start(job_id=job.id, dispatch_id=uuid.uuid4(), worker="w") is None
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("queued", 0)


def test_progress_stops_when_the_job_is_no_longer_running(tester):
    job = mark_dispatched(make_job(tester))
    job = job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w")
    Job.objects.filter(id=job.id).update(state=Job.State.CANCELLED)

    assert job_record_progress(job=job, step=2) is False


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


# --- retry and failure ---------------------------------------------------------------------------


def _running(tester):
    make_job(tester)
    [job] = jobs_dispatch(model_name="demo")
    return job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w")


def test_a_transient_error_puts_the_job_back_in_the_queue(tester, dispatched, monkeypatch):
    from generation import worker

    job = _running(tester)
    monkeypatch.setattr(worker, "job_start", lambda **kwargs: Job.objects.get(id=job.id))
    monkeypatch.setattr(
        worker,
        "_render_and_hand_over",
        lambda job, spec: (_ for _ in ()).throw(ConnectionError("nfs")),
    )

    result = worker.job_execute(job_id=job.id, dispatch_id=job.dispatch_id, worker="w")

    job.refresh_from_db()
    assert result == "retrying"
    assert (job.state, job.dispatch_id, job.gpu_seconds) == ("queued", None, 0.0)
    assert "ConnectionError" in job.error


def test_a_transient_error_on_the_last_attempt_fails_the_job(tester, dispatched, settings):
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
        "_render_and_hand_over",
        lambda job, spec: (_ for _ in ()).throw(RuntimeError("CUDA out of memory. Tried 2 GiB")),
    )

    assert worker.job_execute(job_id=job.id, dispatch_id=job.dispatch_id, worker="w") == "failed"
    job.refresh_from_db()
    assert job.state == "failed" and job.error.startswith("The GPU ran out of memory")


# --- reconciler --------------------------------------------------------------------------------


def test_a_stalled_running_job_is_requeued_and_its_old_message_ignored(
    tester, settings, dispatched
):
    settings.JOB_STALL_SECONDS = 60
    make_job(tester)
    [first] = jobs_dispatch(model_name="demo")
    job_start(job_id=first.id, dispatch_id=first.dispatch_id, worker="dead")
    Job.objects.filter(id=first.id).update(heartbeat_at=timezone.now() - timedelta(seconds=61))

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
    Job.objects.filter(id=first.id).update(heartbeat_at=timezone.now() - timedelta(seconds=61))

    jobs_reconcile()

    job = Job.objects.get(id=first.id)
    assert job.state == "failed" and "1 times" in job.error


def test_a_stale_message_never_fails_a_healthy_last_attempt(tester, settings, dispatched):
    settings.JOB_MAX_ATTEMPTS, settings.JOB_STALL_SECONDS = 2, 60
    make_job(tester)
    [first] = jobs_dispatch(model_name="demo")
    job_start(job_id=first.id, dispatch_id=first.dispatch_id, worker="dead")
    Job.objects.filter(id=first.id).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    jobs_reconcile()
    job = Job.objects.get(id=first.id)
    live = job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="new")
    assert live.attempt == 2

    # The dead run's message comes back after the visibility timeout.
    assert job_start(job_id=job.id, dispatch_id=first.dispatch_id, worker="late") is None

    job.refresh_from_db()
    assert (job.state, job.attempt) == ("running", 2)
    assert job_record_progress(job=live, step=1) is True
