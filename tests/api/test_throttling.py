"""Rates per token: RateLimit-* headers on every answer, 429 with Retry-After past the limit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.api.conftest import JOB, post_json

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


@pytest.fixture
def small_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "3/minute", "job_submit": "1/minute"},
    }


def test_every_answer_says_where_the_caller_stands(client, tester_headers, small_rates):
    answers = [client.get(reverse("api_jobs"), headers=tester_headers) for _ in range(2)]

    assert [a["RateLimit-Limit"] for a in answers] == ["3", "3"]
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1"]
    assert all(0 < int(a["RateLimit-Reset"]) <= 60 for a in answers)


def test_past_the_rate_the_answer_is_a_429_problem_with_retry_after(
    client, tester_headers, small_rates
):
    for _ in range(3):
        assert client.get(reverse("api_jobs"), headers=tester_headers).status_code == 200

    refused = client.get(reverse("api_jobs"), headers=tester_headers)

    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("application/problem+json")
    assert refused.json()["type"] == "urn:vernissage:problem:rate-limited"
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Remaining"] == "0"


def test_each_token_has_its_own_allowance(client, tester, token_for, small_rates):
    first, second = token_for(tester, "jobs:read"), token_for(tester, "jobs:read")
    for _ in range(3):
        client.get(reverse("api_jobs"), headers=first)

    assert client.get(reverse("api_jobs"), headers=first).status_code == 429
    assert client.get(reverse("api_jobs"), headers=second).status_code == 200


def test_job_submission_has_a_stricter_rate_of_its_own(
    client, tester_headers, small_rates, dispatched
):
    assert post_json(client, reverse("api_jobs"), JOB, **tester_headers).status_code == 201

    again = post_json(client, reverse("api_jobs"), JOB, **tester_headers)

    assert again.status_code == 429 and again["RateLimit-Limit"] == "1"
    assert client.get(reverse("api_jobs"), headers=tester_headers).status_code == 200
