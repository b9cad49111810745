"""Idempotency-Key on job create: the same request is answered with the first job, another
request under the same key is a 422."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from generation.models import Job
from tests.api.conftest import JOB, post_json

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

KEY = {"idempotency_key": "retry-7f3a"}


def test_the_same_key_and_body_return_the_first_job(client, tester, dispatched):
    client.force_login(tester)

    first = post_json(client, reverse("api_jobs"), JOB, **KEY)
    again = post_json(client, reverse("api_jobs"), JOB, **KEY)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and Job.objects.count() == 1


def test_the_same_request_spelled_differently_is_still_the_same(client, tester, dispatched):
    client.force_login(tester)
    first = post_json(client, reverse("api_jobs"), JOB, **KEY)

    reordered = json.dumps(dict(reversed(list(JOB.items()))), indent=2)
    again = client.post(
        reverse("api_jobs"), reordered, content_type="application/json", headers=KEY
    )

    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_body_is_a_422_and_queues_nothing(client, tester, dispatched):
    client.force_login(tester)
    post_json(client, reverse("api_jobs"), JOB, **KEY)

    response = post_json(client, reverse("api_jobs"), {**JOB, "prompt": "a crane"}, **KEY)

    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:vernissage:problem:idempotency-key-reused"
    assert "Idempotency-Key" in response.json()["errors"]
    assert Job.objects.count() == 1


def test_keys_are_per_caller(client, tester, other_tester, dispatched):
    client.force_login(tester)
    post_json(client, reverse("api_jobs"), JOB, **KEY)
    client.force_login(other_tester)

    response = post_json(client, reverse("api_jobs"), {**JOB, "prompt": "a crane"}, **KEY)

    assert response.status_code == 201 and Job.objects.count() == 2


def test_a_job_stored_before_hashes_were_kept_still_answers_its_key(client, tester, dispatched):
    client.force_login(tester)
    first = post_json(client, reverse("api_jobs"), JOB, **KEY)
    Job.objects.update(request_hash="")

    again = post_json(client, reverse("api_jobs"), {**JOB, "prompt": "a crane"}, **KEY)

    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
