"""What the API tells a client about a job: the parameters it runs with, when it started and
completed, how long it ran, the job it reused settings from; and the list's filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generation.models import Job
from tests.api.conftest import JOB, post_json
from tests.factories import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def test_a_created_job_echoes_the_parameters_it_runs_with(client, tester, dispatched):
    client.force_login(tester)

    body = post_json(client, reverse("api_jobs"), {**JOB, "num_frames": 9, "seed": 77}).json()

    job = Job.objects.get()
    assert body["parameters"] == {
        "negative_prompt": "",
        "seed": 77,
        "num_frames": 9,
        "width": job.width,  # left out: the model's default
        "height": job.height,
        "steps": job.steps,
        "guidance": job.guidance,
    }
    assert (body["parent_id"], body["started_at"], body["completed_at"]) == (None, None, None)
    assert body["metrics"] == {"predict_time": None}


def test_a_finished_job_says_when_it_ran_and_for_how_long(client, tester):
    job = make_job(tester, state=Job.State.SUCCEEDED)
    started = timezone.now() - timedelta(seconds=30)
    Job.objects.filter(id=job.id).update(
        started_at=started, finished_at=started + timedelta(seconds=12), gpu_seconds=9.8765
    )
    client.force_login(tester)

    body = client.get(reverse("api_job", kwargs={"job_id": job.id})).json()

    assert body["started_at"] == started.isoformat()
    assert body["completed_at"] == (started + timedelta(seconds=12)).isoformat()
    assert body["metrics"] == {"predict_time": 9.877}


def test_a_running_job_has_started_but_not_completed(client, tester):
    job = make_job(tester, state=Job.State.RUNNING)
    Job.objects.filter(id=job.id).update(started_at=timezone.now())
    client.force_login(tester)

    body = client.get(reverse("api_job", kwargs={"job_id": job.id})).json()

    assert body["started_at"] is not None and body["completed_at"] is None


def test_a_rerun_names_its_parent_on_its_row_and_in_every_read(tester, token_client, dispatched):
    parent = make_job(tester, state=Job.State.SUCCEEDED)
    api = token_client(tester)

    created = api.post(
        reverse("api_job_rerun", kwargs={"job_id": parent.id}), {}, content_type="application/json"
    ).json()

    child = Job.objects.get(id=created["id"])
    assert child.parent_id == parent.id
    read = api.get(reverse("api_job", kwargs={"job_id": child.id})).json()
    assert read["parent_id"] == str(parent.id)


def test_the_list_filters_by_state_and_model(client, tester):
    queued, done = make_job(tester), make_job(tester, state=Job.State.SUCCEEDED)
    client.force_login(tester)

    def ids(**query):
        response = client.get(reverse("api_jobs"), query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids(state="succeeded") == [str(done.id)]
    assert ids(state="queued") == [str(queued.id)]
    assert ids(model="demo") == [str(done.id), str(queued.id)]
    assert ids(model="no-such-model") == []


@pytest.mark.parametrize("query", [{"state": "sleeping"}, {"model": "x" * 41}])
def test_a_bad_filter_is_a_400_naming_it(client, tester, query):
    client.force_login(tester)

    response = client.get(reverse("api_jobs"), query)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == list(query)
