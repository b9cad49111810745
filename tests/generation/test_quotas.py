"""Cohort quotas, enforced in job_submit: waiting jobs, GPU-seconds per day, model limits."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from access.models import User
from generation.models import Job
from generation.services import (
    JobRejected,
    JobRequest,
    job_fail,
    job_start,
    job_submit,
    jobs_dispatch,
)
from tests.factories import make_job

pytestmark = pytest.mark.django_db

PARALLEL = 50


def _request(**changes) -> JobRequest:
    return JobRequest(**{"model_name": "demo", "prompt": "a kite over dunes", **changes})


def _limit_cohort(user: User, **limits) -> None:
    type(user.cohort).objects.filter(pk=user.cohort_id).update(**limits)
    user.cohort.refresh_from_db()


@pytest.mark.django_db(transaction=True)
def test_parallel_submissions_never_exceed_the_cohorts_waiting_jobs(tester, dispatched):
    _limit_cohort(tester, max_concurrent_jobs=1, max_queued_jobs=4)
    start = threading.Barrier(PARALLEL)
    created, refused, crashed = [], [], []

    def submit(index: int) -> None:
        try:
            owner = User.objects.get(pk=tester.pk)  # each thread: its own row, own connection
            start.wait()
            job, _ = job_submit(owner=owner, request=_request(), client_token=f"t-{index}")
            created.append(job.id)
        except JobRejected as exc:
            refused.append(exc.errors)
        except Exception as exc:
            crashed.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert crashed == []
    assert len(created) == 5 and len(refused) == PARALLEL - 5
    assert Job.objects.filter(owner=tester).count() == 5
    assert {tuple(errors) for errors in refused} == {("__all__",)}
    assert refused[0]["__all__"] == [
        "You have 5 jobs waiting or running; your cohort allows 5. Wait for one to finish."
    ]
    # The dispatcher sent only what the cohort may run at once; the rest wait in the database.
    assert len(dispatched) == 1
    assert Job.objects.filter(dispatched_at__isnull=False).count() == 1


def test_a_finished_job_frees_a_waiting_slot(tester, dispatched):
    _limit_cohort(tester, max_concurrent_jobs=1, max_queued_jobs=1)
    first, _ = job_submit(owner=tester, request=_request())
    job_submit(owner=tester, request=_request())

    with pytest.raises(JobRejected, match="your cohort allows 2"):
        job_submit(owner=tester, request=_request())
    Job.objects.filter(pk=first.pk).update(state=Job.State.SUCCEEDED, finished_at=timezone.now())

    _job, created = job_submit(owner=tester, request=_request())

    assert created and Job.objects.filter(state=Job.State.QUEUED).count() == 2


def test_another_testers_jobs_do_not_count_against_the_quota(tester, other_tester, dispatched):
    _limit_cohort(tester, max_concurrent_jobs=1, max_queued_jobs=0)
    make_job(other_tester)

    _job, created = job_submit(owner=tester, request=_request())

    assert created


def test_an_exhausted_daily_gpu_budget_is_refused_with_a_clear_message(tester, dispatched):
    _limit_cohort(tester, gpu_seconds_per_day=60)
    spent = make_job(tester, state=Job.State.SUCCEEDED)
    Job.objects.filter(pk=spent.pk).update(gpu_seconds=60.0, finished_at=timezone.now())

    with pytest.raises(JobRejected) as refusal:
        job_submit(owner=tester, request=_request())

    assert refusal.value.errors == {
        "__all__": ["You have used your 60 GPU-seconds for today; the budget renews at 00:00 UTC."]
    }
    assert Job.objects.count() == 1


def test_gpu_seconds_spent_yesterday_do_not_count_today(tester, dispatched):
    _limit_cohort(tester, gpu_seconds_per_day=60)
    spent = make_job(tester, state=Job.State.SUCCEEDED)
    yesterday = timezone.now().replace(hour=0, minute=0) - timedelta(minutes=1)
    Job.objects.filter(pk=spent.pk).update(gpu_seconds=600.0, finished_at=yesterday)

    _job, created = job_submit(owner=tester, request=_request())

    assert created


@pytest.mark.parametrize(
    ("cohort_limit", "value", "field", "message"),
    [
        ({"max_frames": 9}, {"num_frames": 13}, "num_frames", "Must be between 1 and 9 for demo."),
        ({"max_steps": 6}, {"steps": 8}, "steps", "Must be between 1 and 6 for demo."),
        ({"max_width": 64}, {"width": 96}, "width", "Must be between 1 and 64 for demo."),
        ({"max_height": 48}, {"height": 64}, "height", "Must be between 1 and 48 for demo."),
    ],
)
def test_a_cohort_narrows_the_models_limits_and_the_error_names_the_limit(
    tester, dispatched, cohort_limit, value, field, message
):
    _limit_cohort(tester, **cohort_limit)

    with pytest.raises(JobRejected) as refusal:
        job_submit(owner=tester, request=_request(**value))

    assert refusal.value.errors == {field: [message]}
    assert not Job.objects.exists()


def test_within_the_cohorts_narrower_limits_a_job_is_accepted(tester, dispatched):
    _limit_cohort(tester, max_frames=9, max_steps=6)

    job, _ = job_submit(owner=tester, request=_request(num_frames=9, steps=6))

    assert (job.num_frames, job.steps) == (9, 6)


def test_a_cohort_limit_above_the_models_does_not_widen_it(tester, dispatched):
    _limit_cohort(tester, max_steps=500)

    with pytest.raises(JobRejected, match="between 1 and 12"):
        job_submit(owner=tester, request=_request(steps=13))


def test_a_model_outside_the_cohorts_list_is_refused(tester, dispatched):
    _limit_cohort(tester, model_names=["demo-slow"])

    with pytest.raises(JobRejected) as refusal:
        job_submit(owner=tester, request=_request())

    assert refusal.value.errors == {"model": ["Your cohort cannot use the model 'demo'."]}


def test_the_studio_shows_the_remaining_budget(client, tester, dispatched):
    _limit_cohort(tester, max_concurrent_jobs=1, max_queued_jobs=2, gpu_seconds_per_day=100)
    make_job(tester)
    spent = make_job(tester, state=Job.State.SUCCEEDED)
    Job.objects.filter(pk=spent.pk).update(gpu_seconds=40.0, finished_at=timezone.now())
    client.force_login(tester)

    response = client.get(reverse("studio"))

    budget = response.context["budget"]
    assert (budget.waiting, budget.slots_left, budget.gpu_seconds_left) == (1, 2, 60.0)
    text = " ".join(response.content.decode().split())
    assert "Jobs waiting or running: 1 of 3." in text
    assert "GPU time left today: 60 of 100 s." in text


def test_the_studio_explains_a_refusal_for_quota(client, tester, dispatched):
    _limit_cohort(tester, max_concurrent_jobs=1, max_queued_jobs=0)
    make_job(tester)
    client.force_login(tester)

    response = client.post(reverse("studio"), {"model": "demo", "prompt": "a kite"})

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        "You have 1 jobs waiting or running; your cohort allows 1. Wait for one to finish."
    ]


# --- the per-tester dispatcher ----------------------------------------------------------------
# The demo model has one GPU slot, which the dispatcher fills with two jobs (one running, one in
# the worker's prefetch buffer): a cohort allowing one concurrent job is the narrower limit.


def _sent(dispatched) -> list[str]:
    return [args[0] for args, _queue in dispatched]


def test_dispatch_sends_at_most_the_cohorts_concurrent_jobs_of_one_tester(
    tester, other_tester, dispatched, django_capture_on_commit_callbacks
):
    _limit_cohort(tester, max_concurrent_jobs=1, max_queued_jobs=5)

    with django_capture_on_commit_callbacks(execute=True):
        mine = [job_submit(owner=tester, request=_request())[0] for _ in range(3)]
        theirs, _ = job_submit(owner=other_tester, request=_request())

    assert _sent(dispatched) == [str(mine[0].id), str(theirs.id)]
    waiting = Job.objects.filter(dispatched_at__isnull=True).order_by("created_at")
    assert list(waiting) == mine[1:]


def test_a_finished_job_lets_the_dispatcher_send_the_owners_next_one(
    tester, dispatched, django_capture_on_commit_callbacks
):
    _limit_cohort(tester, max_concurrent_jobs=1, max_queued_jobs=5)
    with django_capture_on_commit_callbacks(execute=True):
        first, second, third = [job_submit(owner=tester, request=_request())[0] for _ in range(3)]
    assert _sent(dispatched) == [str(first.id)]

    with django_capture_on_commit_callbacks(execute=True):
        dispatch_id = Job.objects.get(pk=first.pk).dispatch_id
        running = job_start(job_id=first.id, dispatch_id=dispatch_id, worker="w1")
        job_fail(job=running, reason="out of memory")

    assert _sent(dispatched) == [str(first.id), str(second.id)]
    assert Job.objects.get(pk=third.pk).dispatched_at is None


def test_dispatching_again_sends_nothing_twice(tester, dispatched):
    _limit_cohort(tester, max_concurrent_jobs=3)
    for _ in range(2):
        make_job(tester)

    first = jobs_dispatch(model_name="demo")
    again = jobs_dispatch(model_name="demo")

    assert len(first) == 2 and again == []
