"""Submitting jobs from the studio and the API (`generation.services.submit`): the rules and bad
input. Quotas have their own file; what happens after submission is in test_lifecycle."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.services import terms_accept, terms_publish, token_create
from generation.models import Job
from generation.services import (
    PROMPT_MAX_CHARS,
    JobRejected,
    JobRequest,
    job_submit,
)
from tests.conftest import bearer
from tests.factories import make_job

pytestmark = pytest.mark.django_db

VALID = {
    "model": "demo",
    "prompt": "a heron at dawn",
    "num_frames": 9,
    "width": 64,
    "height": 64,
    "steps": 4,
    "guidance": 5.0,
}


def _post_studio(client, **changes):
    return client.post(reverse("studio"), {**VALID, **changes})


def test_studio_submit_creates_a_queued_job_and_dispatches_it_after_commit(
    signed_in, tester, dispatched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_studio(signed_in)

    assert response.status_code == 302
    job = Job.objects.get()
    assert (job.owner, job.state, job.prompt, job.steps) == (tester, "queued", "a heron at dawn", 4)
    assert [(args[0], queue) for args, queue in dispatched] == [(str(job.id), "gpu.demo")]
    assert job.dispatch_id is not None and job.dispatched_at is not None


def test_nothing_is_dispatched_when_the_transaction_rolls_back(tester, dispatched):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        job_submit(owner=tester, request=JobRequest(model_name="demo", prompt="x"))
        raise RuntimeError("rollback")

    assert not Job.objects.exists() and dispatched == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"prompt": ""}, "prompt", "required"),
        ({"prompt": "   \n "}, "prompt", "required"),
        ({"prompt": "x" * 2001}, "prompt", "At most 2000 characters"),
        ({"prompt": "a cat\x00"}, "prompt", "Null characters are not allowed"),
        ({"prompt": "a cat\x1b[31m"}, "prompt", "U+001B"),
        ({"prompt": "hidden\u202etext"}, "prompt", "U+202E"),
        ({"negative_prompt": "n" * 2001}, "negative_prompt", "At most 2000"),
        ({"num_frames": 10}, "num_frames", "4k+1"),
        ({"num_frames": 21}, "num_frames", "between 1 and 17"),
        ({"num_frames": 0}, "num_frames", "between 1 and 17"),
        ({"width": 70}, "width", "multiple of 16"),
        ({"width": 4096}, "width", "between 1 and 128"),
        ({"height": -16}, "height", "between 1 and 128"),
        ({"steps": 0}, "steps", "between 1 and 12"),
        ({"steps": 1000}, "steps", "between 1 and 12"),
        ({"guidance": 99}, "guidance", "between 0 and 20"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"seed": 2**40}, "seed", "less than or equal to"),
        ({"steps": "many"}, "steps", "whole number"),
        ({"model": "gpt-video"}, "model", "not one of the available choices"),
    ],
)
def test_bad_studio_input_gets_a_field_error_and_queues_nothing(
    signed_in, dispatched, changes, field, message
):
    response = _post_studio(signed_in, **changes)

    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert message in errors, response.context["form"].errors
    assert not Job.objects.exists() and dispatched == []


def test_a_double_submitted_form_queues_one_job(
    signed_in, dispatched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = _post_studio(signed_in, client_token="tok-1")
        second = _post_studio(signed_in, client_token="tok-1")

    assert first.status_code == second.status_code == 302
    assert Job.objects.count() == 1
    assert len(dispatched) == 1


def test_the_studio_form_carries_a_fresh_idempotency_token(signed_in):
    first = signed_in.get(reverse("studio")).context["form"].initial["client_token"]
    second = signed_in.get(reverse("studio")).context["form"].initial["client_token"]

    assert first and second and first != second


def test_the_studio_lists_jobs_with_a_constant_number_of_queries(signed_in, tester):
    for _ in range(3):
        make_job(tester)
    with CaptureQueriesContext(connection) as few:
        signed_in.get(reverse("studio"))
    for _ in range(20):
        make_job(tester)
    with CaptureQueriesContext(connection) as many:
        response = signed_in.get(reverse("studio"))

    assert len(many) == len(few)
    assert len(response.context["initial_jobs"]) == 23


def test_the_api_submits_lists_and_gets_jobs(signed_in, tester, dispatched):
    created = signed_in.post(reverse("api_jobs"), VALID, content_type="application/json")
    listed = signed_in.get(reverse("api_jobs"))
    fetched = signed_in.get(reverse("api_job", kwargs={"job_id": created.json()["id"]}))

    assert created.status_code == 201 and created.json()["state"] == "queued"
    assert [job["id"] for job in listed.json()["results"]] == [created.json()["id"]]
    assert fetched.json()["prompt"] == "a heron at dawn"


# A token already used this minute: token lookup with the kill switch (1), submit permission (1),
# current terms and acceptance (1); in the transaction: savepoint, owner locked with its cohort
# (1), budget (1), the job (1), the fairness app's training record with the preference read in
# its INSERT (1), release. Submissions queue behind the owner's lock, so each query here is paid
# by every concurrent submitter (docs/reliability.md, "Submitting under load").
API_SUBMIT_QUERIES = 9


def test_the_api_submits_with_a_fixed_number_of_queries(
    client, tester, dispatched, django_assert_num_queries
):
    terms_accept(user=tester, terms=terms_publish(title="Terms", body="Keep it quiet.", by=None))
    token = token_create(user=tester, name="load", scopes=["jobs:write"]).plaintext
    make_job(owner=tester, state="succeeded")

    def submit():
        return client.post(
            reverse("api_jobs"), VALID, content_type="application/json", headers=bearer(token)
        )

    submit()  # the token's first use is recorded; later calls within the minute write nothing
    with django_assert_num_queries(API_SUBMIT_QUERIES):
        response = submit()

    assert response.status_code == 201, response.content
    assert Job.objects.filter(owner=tester, state="queued").count() == 2


def test_the_api_reports_each_bad_field_and_queues_nothing(signed_in, dispatched):
    response = signed_in.post(
        reverse("api_jobs"),
        {**VALID, "prompt": "", "width": 70, "steps": 99},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"prompt", "width", "steps"}
    assert not Job.objects.exists()


def test_the_api_refuses_an_unknown_model_by_name(signed_in, dispatched):
    response = signed_in.post(
        reverse("api_jobs"), {**VALID, "model": "nope"}, content_type="application/json"
    )

    assert response.status_code == 400 and "'nope'" in json.dumps(response.json())


def test_the_api_honours_an_idempotency_key(signed_in, dispatched):
    headers = {"Idempotency-Key": "retry-1"}
    first = signed_in.post(
        reverse("api_jobs"), VALID, content_type="application/json", headers=headers
    )
    again = signed_in.post(
        reverse("api_jobs"), VALID, content_type="application/json", headers=headers
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and Job.objects.count() == 1


def test_an_inactive_account_cannot_submit(tester):
    tester.is_active = False
    tester.save()

    with pytest.raises(JobRejected, match="cannot submit"):
        job_submit(owner=tester, request=JobRequest(model_name="demo", prompt="x"))


def test_the_service_names_each_control_character_it_refuses(tester):
    with pytest.raises(JobRejected) as refused:
        job_submit(owner=tester, request=JobRequest(model_name="demo", prompt="a\x00b\x07c"))

    assert refused.value.errors == {
        "prompt": ["Control characters are not allowed: U+0000, U+0007."]
    }


def test_a_prompt_the_page_lets_through_is_not_refused_for_its_line_breaks(tester, dispatched):
    lines = "a heron\r\n" * (PROMPT_MAX_CHARS // 8)  # 2000 characters as the browser counts

    job, _ = job_submit(owner=tester, request=JobRequest(model_name="demo", prompt=lines))

    assert job.prompt == ("a heron\n" * (PROMPT_MAX_CHARS // 8)).strip()


def test_the_api_takes_a_parent_of_the_callers_own_and_shows_it(signed_in, tester, dispatched):
    parent = make_job(tester)

    response = signed_in.post(
        reverse("api_jobs"), {**VALID, "parent": str(parent.id)}, content_type="application/json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["parent_id"] == str(parent.id)
    assert Job.objects.get(id=response.json()["id"]).parent == parent


@pytest.mark.parametrize("whose", ["another tester's", "no one's"])
def test_the_api_refuses_a_parent_that_is_not_the_callers_job(
    signed_in, other_tester, dispatched, whose
):
    parent_id = make_job(other_tester).id if whose == "another tester's" else "0" * 32

    response = signed_in.post(
        reverse("api_jobs"), {**VALID, "parent": str(parent_id)}, content_type="application/json"
    )

    assert response.status_code == 400
    assert "No job of yours has this id." in json.dumps(response.json())
    assert not Job.objects.filter(owner__email="ada@example.com").exists()
