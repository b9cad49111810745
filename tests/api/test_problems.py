"""One error shape under /api/: RFC 9457 problem details, whichever layer refused."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from access.models import User
from generation.models import Job
from tests.api.conftest import JOB, post_json
from tests.factories import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

PROBLEM = "application/problem+json"


def _problem(response, status: int) -> dict:
    """The body, after checking it is a problem of `status` with every member RFC 9457 names."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith(PROBLEM)
    body = json.loads(response.content)
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status and body["detail"]
    return body


def test_an_unknown_api_path_is_a_404_problem_not_an_html_page(client, tester):
    client.force_login(tester)

    body = _problem(client.get("/api/v1/no-such-thing/"), 404)

    assert body["type"] == "about:blank" and body["title"] == "Not Found"


def test_an_unknown_api_path_is_a_problem_for_anonymous_callers_too(client):
    _problem(client.get("/api/v2/jobs/"), 404)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_wrong_method_is_a_405_problem_with_the_allowed_methods(client, tester, method):
    client.force_login(tester)

    response = getattr(client, method)(reverse("api_jobs"))

    assert "Method" in _problem(response, 405)["detail"]
    assert "GET" in response["Allow"] and "POST" in response["Allow"]


def test_invalid_fields_are_a_400_problem_naming_each_field(client, tester, dispatched):
    client.force_login(tester)

    response = post_json(client, reverse("api_jobs"), {**JOB, "prompt": 5, "steps": "many"})

    body = _problem(response, 400)
    assert body["type"] == "urn:vernissage:problem:validation"
    assert set(body["errors"]) == {"prompt", "steps"}
    assert "prompt" in body["detail"] and "steps" in body["detail"]
    assert not Job.objects.exists()


def test_a_rule_the_service_enforces_is_a_400_problem_naming_the_field(client, tester, dispatched):
    client.force_login(tester)

    body = _problem(post_json(client, reverse("api_jobs"), {**JOB, "model": "nope"}), 400)

    assert "'nope'" in body["errors"]["model"][0]


def test_a_body_that_is_not_json_is_a_400_problem_saying_so(client, tester):
    client.force_login(tester)

    response = client.post(reverse("api_jobs"), "{'no': json", content_type="application/json")

    assert "JSON" in _problem(response, 400)["detail"]


def test_a_body_past_the_upload_limit_is_a_400_problem_not_html(client, tester, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(tester)

    _problem(post_json(client, reverse("api_jobs"), {**JOB, "prompt": "x" * 2000}), 400)

    assert not Job.objects.exists()


def test_a_missing_token_is_a_401_problem_with_its_challenge(client):
    response = client.get(reverse("api_jobs"), headers={"authorization": "Bearer vern_nope"})

    assert _problem(response, 401)["detail"] == "Invalid API token."
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_token_without_the_scope_is_a_403_problem_naming_it(client, tester, token_for):
    headers = token_for(tester, "jobs:read")

    response = post_json(client, reverse("api_jobs"), JOB, **headers)

    assert _problem(response, 403)["detail"] == "This token lacks the scope 'jobs:write'."


def test_an_unknown_job_is_a_404_problem(client, tester):
    client.force_login(tester)

    url = reverse("api_job", kwargs={"job_id": "00000000-0000-0000-0000-000000000000"})

    assert _problem(client.get(url), 404)["detail"] == "No such job."


def test_cancelling_a_finished_job_is_a_409_problem(client, tester):
    job = make_job(tester, state=Job.State.FAILED)
    client.force_login(tester)

    response = post_json(client, reverse("api_job_cancel", kwargs={"job_id": job.id}), {})

    assert _problem(response, 409)["type"] == "urn:vernissage:problem:conflict"


def test_an_outage_is_a_503_problem_keeping_its_retry_after(tester, monkeypatch):
    def database_gone(*args, **kwargs):
        raise OperationalError("connection refused")

    client = Client(raise_request_exception=False)
    client.force_login(tester)
    monkeypatch.setattr("generation.api.views.jobs_of", database_gone)

    response = client.get(reverse("api_jobs"))

    assert "the database" in _problem(response, 503)["detail"]
    assert response["Retry-After"] == "30"


def test_a_nul_byte_in_an_api_url_is_a_400_problem_saying_so(client):
    response = client.get("/api/v1/jobs/%00/")

    assert "NUL byte" in _problem(response, 400)["detail"]


def test_a_session_whose_access_ended_is_a_403_problem_not_an_html_page(client, tester):
    client.force_login(tester)
    User.objects.filter(pk=tester.pk).update(standing=User.Standing.SUSPENDED)

    response = client.get(reverse("api_jobs"))

    assert _problem(response, 403)["detail"] == "This account's access has ended."


def test_pages_outside_the_api_keep_their_html_errors(client, tester):
    client.force_login(tester)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith(PROBLEM)
