"""A used-up quota on job create: 429 naming the quota and when it renews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generation.models import Job
from tests.api.conftest import JOB, post_json
from tests.factories import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def test_a_spent_gpu_budget_is_a_429_naming_it_and_its_renewal(client, tester, dispatched):
    spent = make_job(tester, state=Job.State.SUCCEEDED)
    Job.objects.filter(pk=spent.pk).update(finished_at=timezone.now(), gpu_seconds=3600)
    client.force_login(tester)

    response = post_json(client, reverse("api_jobs"), JOB)

    body = response.json()
    assert response.status_code == 429
    assert body["type"] == "urn:vernissage:problem:quota-exceeded"
    assert body["quota"] == "gpu_seconds_per_day" and "3600 GPU-seconds" in body["detail"]
    renews = datetime.fromisoformat(body["resets_at"])
    assert renews.astimezone(UTC).time() == datetime.min.time() and renews > timezone.now()
    assert 0 < int(response["Retry-After"]) <= timedelta(days=1).total_seconds() + 1
    assert Job.objects.count() == 1


def test_too_many_waiting_jobs_is_a_429_renewing_when_one_finishes(client, tester, dispatched):
    for _ in range(12):  # the test cohort: 2 running + 10 queued
        make_job(tester)
    client.force_login(tester)

    response = post_json(client, reverse("api_jobs"), JOB)

    body = response.json()
    assert response.status_code == 429
    assert body["quota"] == "waiting_jobs" and body["resets_at"] is None
    assert "Wait for one to finish" in body["detail"]
    assert Job.objects.count() == 12
