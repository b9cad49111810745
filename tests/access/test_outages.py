"""PostgreSQL or Redis away: a 503 that names the service and says when to retry, never a 500
traceback; nothing half-done."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from access.services import terms_accept
from access.views import server_error
from generation.models import Job

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _database_gone(*args, **kwargs):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


def test_the_api_answers_503_naming_the_database_when_it_is_away(tester, monkeypatch):
    client = Client(raise_request_exception=False)
    client.force_login(tester)
    monkeypatch.setattr("generation.api.views.jobs_of", _database_gone)

    response = client.get(reverse("api_jobs"))

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "the database" in response.json()["detail"]


def test_a_page_answers_503_when_standing_cannot_be_read(tester, monkeypatch):
    client = Client(raise_request_exception=False)
    client.force_login(tester)
    monkeypatch.setattr("access.middleware.terms_accepted_version", _database_gone)

    response = client.get(reverse("studio"))

    assert response.status_code == 503
    assert b"the database cannot be reached" in response.content
    assert b"Traceback" not in response.content


def test_signing_in_while_redis_is_away_is_a_503_naming_redis(tester, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "access.cache.RedisCache",
            "LOCATION": DEAD_REDIS,
        }
    }
    client = Client(raise_request_exception=False)

    response = client.post(
        reverse("account_login"), {"login": tester.email, "password": "a-Strong-pass-42"}
    )

    assert response.status_code == 503
    assert b"(Redis)" in response.content


def test_an_escaped_outage_is_a_503_and_any_other_error_stays_a_500(rf):
    request = rf.get("/studio/")
    try:
        raise OperationalError("the server closed the connection unexpectedly")
    except OperationalError:
        outage = server_error(request)
    try:
        raise ValueError("a bug")
    except ValueError:
        bug = server_error(request)

    assert (outage.status_code, bug.status_code) == (503, 500)


def test_a_submission_refused_by_an_outage_stores_nothing(tester, monkeypatch, terms_v1):
    terms_accept(user=tester, terms=terms_v1)
    client = Client(raise_request_exception=False)
    client.force_login(tester)
    monkeypatch.setattr("generation.services.submit.budget_for", _database_gone)

    response = client.post(
        reverse("api_jobs"), {"model": "demo", "prompt": "a fox"}, content_type="application/json"
    )

    assert response.status_code == 503
    assert not Job.objects.exists()
