"""Models, budget and "reuse settings" over the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from access.models import Cohort
from generation.models import Job
from generation.registry import get_model
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def test_models_lists_the_cohorts_models_with_defaults_limits_and_fps(tester, token_client):
    Cohort.objects.filter(pk=tester.cohort_id).update(model_names=["demo"], max_frames=7)
    spec = get_model("demo")
    assert spec is not None

    models = token_client(tester).get(reverse("api_models")).json()["models"]

    assert [m["name"] for m in models] == ["demo"]
    demo = models[0]
    assert (demo["label"], demo["fps"]) == (spec.label, spec.fps)
    assert demo["limits"]["num_frames"] == 7  # the cohort narrows the model's limit
    assert demo["limits"]["width"] == spec.limits.width
    assert demo["defaults"]["num_frames"] == min(spec.defaults.num_frames, 7)
    assert demo["defaults"]["steps"] == spec.defaults.steps
    assert (demo["max_concurrent_jobs"], demo["max_queued_jobs"]) == (2, 10)


def test_models_of_another_cohort_are_not_listed(outsider, token_client):
    models = token_client(outsider).get(reverse("api_models")).json()["models"]

    assert [m["name"] for m in models] == ["demo"]  # not demo-slow, which only the test cohort has


def test_budget_says_what_is_used_and_left_and_when_it_resets(tester, token_client):
    make_job(tester)  # waiting
    done = make_job(tester, state=Job.State.SUCCEEDED)
    Job.objects.filter(pk=done.pk).update(gpu_seconds=600.0, finished_at=datetime.now(UTC))

    budget = token_client(tester).get(reverse("api_budget")).json()

    assert budget["jobs_waiting"] == 1
    assert (budget["jobs_waiting_limit"], budget["job_slots_left"]) == (12, 11)
    assert budget["gpu_seconds_used_today"] == 600.0
    assert (budget["gpu_seconds_per_day"], budget["gpu_seconds_left"]) == (3600, 3000.0)
    resets = datetime.fromisoformat(budget["resets_at"])
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert resets == datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)


def test_rerun_reuses_the_parents_settings(tester, token_client):
    parent = make_job(tester, prompt="a heron at dawn")

    response = token_client(tester).post(
        reverse("api_job_rerun", kwargs={"job_id": parent.id}), {}, content_type="application/json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["parent_id"] == str(parent.id)
    assert (body["prompt"], body["model"], body["state"]) == ("a heron at dawn", "demo", "queued")
    child = Job.objects.get(pk=body["id"])
    fields = ("seed", "num_frames", "width", "height", "steps", "guidance", "negative_prompt")
    assert [getattr(child, f) for f in fields] == [getattr(parent, f) for f in fields]


def test_rerun_changes_only_what_the_body_gives(tester, token_client):
    parent = make_job(tester)

    body = (
        token_client(tester)
        .post(
            reverse("api_job_rerun", kwargs={"job_id": parent.id}),
            {"num_frames": 9, "seed": None},
            content_type="application/json",
        )
        .json()
    )

    child = Job.objects.get(pk=body["id"])
    assert child.num_frames == 9
    assert (child.width, child.prompt) == (parent.width, parent.prompt)


def test_a_rerun_retried_with_the_same_idempotency_key_returns_the_same_job(tester, token_client):
    parent, client = make_job(tester), token_client(tester)
    url = reverse("api_job_rerun", kwargs={"job_id": parent.id})

    first = client.post(url, {}, content_type="application/json", headers={"Idempotency-Key": "k1"})
    again = client.post(url, {}, content_type="application/json", headers={"Idempotency-Key": "k1"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Job.objects.filter(owner=tester).count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"num_frames": "many"}, "num_frames"),
        ({"num_frames": 100_000}, "num_frames"),  # past the model's limit: job_submit's rule
        ({"guidance": True}, "guidance"),
        ({"model": "no-such-model"}, "model"),
        ({"prompt": "a\x00b"}, "prompt"),
        ({"seed": -1}, "seed"),
    ],
)
def test_a_bad_rerun_is_a_400_naming_the_field(tester, token_client, body, field):
    parent = make_job(tester)

    response = token_client(tester).post(
        reverse("api_job_rerun", kwargs={"job_id": parent.id}),
        body,
        content_type="application/json",
    )

    assert response.status_code == 400
    assert field in response.json().__repr__()
    assert Job.objects.filter(owner=tester).count() == 1


def test_a_rerun_as_a_json_list_is_a_400(tester, token_client):
    parent = make_job(tester)

    response = token_client(tester).post(
        reverse("api_job_rerun", kwargs={"job_id": parent.id}), [1], content_type="application/json"
    )

    assert response.status_code == 400
