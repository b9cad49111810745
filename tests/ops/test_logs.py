"""Structured logs: JSON lines that carry the request, the user, the job and its dispatch."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
import sentry_sdk
from django.urls import reverse

from config.logs import log_context, structured_formatter
from generation.models import Job
from tests.conftest import REPO

pytestmark = pytest.mark.django_db


def test_a_request_gets_an_id_that_its_response_and_its_log_lines_carry(client, tester, json_logs):
    client.force_login(tester)

    response = client.get(reverse("staff_usage"))  # refused (403): Django logs a warning

    assert response.status_code == 403
    request_id = response["X-Request-ID"]
    line = json_logs.find("Forbidden")
    assert line["request_id"] == request_id
    assert line["user_id"] == str(tester.pk)
    assert line["level"] == "warning" and line["logger"] == "django.request"
    assert "timestamp" in line


def test_a_callers_request_id_is_kept_and_a_malformed_one_replaced(client):
    kept = client.get(reverse("health_live"), headers={"X-Request-ID": "edge-4f2a.9"})
    replaced = client.get(reverse("health_live"), headers={"X-Request-ID": 'a"b\nc'})

    assert kept["X-Request-ID"] == "edge-4f2a.9"
    assert len(replaced["X-Request-ID"]) == 32 and '"' not in replaced["X-Request-ID"]


def test_a_job_keeps_its_requests_id_and_its_dispatch_is_logged_with_the_jobs_context(
    client, tester, dispatched, json_logs, django_capture_on_commit_callbacks
):
    client.force_login(tester)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("api_jobs"),
            {"model": "demo", "prompt": "a kite over dunes"},
            content_type="application/json",
            headers={"X-Request-ID": "req-kite-1"},
        )

    assert response.status_code == 201, response.content
    job = Job.objects.get()
    assert job.request_id == "req-kite-1"
    line = json_logs.find("Job dispatched to gpu.demo")
    assert line["job_id"] == str(job.id)
    assert line["dispatch_id"] == str(job.dispatch_id)
    assert line["user_id"] == str(tester.pk)
    assert line["request_id"] == "req-kite-1"


def test_context_bound_for_a_block_is_gone_after_it(json_logs):
    logger = logging.getLogger("tests.ops")
    with log_context(job_id="j-1", dispatch_id=None):
        logger.warning("inside")
    logger.warning("outside")

    inside, outside = json_logs.find("inside"), json_logs.find("outside")
    assert inside["job_id"] == "j-1" and "dispatch_id" not in inside
    assert "job_id" not in outside


def test_console_lines_are_for_people():
    record = logging.LogRecord(
        "tests.ops", logging.INFO, __file__, 1, "Job ended: %s", ("ok",), None
    )

    with log_context(job_id="j-2"):
        line = structured_formatter("console").format(record)

    assert "Job ended: ok" in line and "job_id=j-2" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def _settings_in_a_subprocess(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.test_settings", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_sentry_reports_with_django_and_celery_integrations_only_when_a_dsn_is_set():
    code = (
        "import sentry_sdk; c = sentry_sdk.get_client(); "
        "print(c.is_active(), sorted(c.integrations) if c.is_active() else [])"
    )
    with_dsn = _settings_in_a_subprocess(code, SENTRY_DSN="https://key@127.0.0.1:9/1")

    assert with_dsn.returncode == 0, with_dsn.stderr
    active, integrations = with_dsn.stdout.strip().split(" ", 1)
    assert active == "True" and "'django'" in integrations and "'celery'" in integrations
    assert sentry_sdk.get_client().is_active() is False  # these settings, without SENTRY_DSN


def test_an_unknown_log_format_stops_start_up_naming_it():
    started = _settings_in_a_subprocess("", VERNISSAGE_LOG_FORMAT="xml")

    assert started.returncode != 0
    assert "VERNISSAGE_LOG_FORMAT='xml'" in started.stderr
