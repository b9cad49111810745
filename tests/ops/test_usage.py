"""The admins' usage page: GPU-seconds, jobs, approval rate and review latency per tester and
cohort over a chosen window, on the page and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import Cohort
from generation.models import Job
from review.models import Output
from tests.factories import make_job
from tests.ops.conftest import output_row

pytestmark = pytest.mark.django_db


def _at(days_ago: float) -> datetime:
    return timezone.now() - timedelta(days=days_ago)


def _succeeded(owner, *, gpu: float, days_ago: float) -> Job:
    job = make_job(owner, state=Job.State.SUCCEEDED)
    Job.objects.filter(pk=job.pk).update(gpu_seconds=gpu, created_at=_at(days_ago))
    return job


def _decided(owner, state: str, *, after_hours: float, days_ago: float) -> Output:
    output = output_row(owner, state=state)
    created = _at(days_ago)
    Output.objects.filter(pk=output.pk).update(
        created_at=created, decided_at=created + timedelta(hours=after_hours)
    )
    Job.objects.filter(pk=output.job_id).update(created_at=created, gpu_seconds=1.0)
    return output


@pytest.fixture
def usage(tester, other_tester, red_teamer):
    """Ada: 2 jobs in the window (12 + 1 GPU-s), one approved after 2 h and one rejected after
    4 h; one old job outside it. Bob: one failed job. Eve (red team): one job, 5 GPU-s."""
    _succeeded(tester, gpu=12.0, days_ago=1)
    _succeeded(tester, gpu=500.0, days_ago=40)  # outside the 30-day window
    _decided(tester, Output.State.APPROVED, after_hours=2, days_ago=2)
    _decided(tester, Output.State.REJECTED, after_hours=4, days_ago=3)
    failed = make_job(other_tester, state=Job.State.FAILED)
    Job.objects.filter(pk=failed.pk).update(created_at=_at(1))
    _succeeded(red_teamer, gpu=5.0, days_ago=1)


def test_usage_per_tester_over_the_last_30_days(client, admin, usage):
    client.force_login(admin)

    response = client.get(reverse("staff_usage"))

    assert response.status_code == 200
    rows = {row.key: row for row in response.context["rows"]}
    ada = rows["ada@example.com"]
    assert (ada.jobs, ada.succeeded, ada.gpu_seconds) == (3, 3, 14.0)
    assert (ada.decided, ada.approved, ada.approval_rate) == (2, 1, 0.5)
    assert ada.review_latency_seconds == pytest.approx(3 * 3600, abs=1)
    assert ada.cohort == "Test cohort"
    assert (rows["bob@example.com"].jobs, rows["bob@example.com"].succeeded) == (1, 0)
    assert rows["bob@example.com"].approval_rate is None
    assert rows["eve@example.com"].gpu_seconds == 5.0
    assert b"ada@example.com" in response.content and b"50 %" in response.content


def test_usage_per_cohort(client, admin, usage):
    client.force_login(admin)

    response = client.get(reverse("staff_usage"), {"by": "cohort"})

    rows = {row.key: row for row in response.context["rows"]}
    assert set(rows) == {"Test cohort", "Red team"}
    assert (rows["Test cohort"].jobs, rows["Test cohort"].gpu_seconds) == (4, 14.0)
    assert rows["Red team"].gpu_seconds == 5.0


def test_a_chosen_window_counts_only_what_happened_in_it(client, admin, usage):
    client.force_login(admin)
    day = (timezone.now() - timedelta(days=40)).date().isoformat()

    response = client.get(reverse("staff_usage"), {"start": day, "end": day})

    [ada] = response.context["rows"]
    assert (ada.key, ada.jobs, ada.gpu_seconds, ada.decided) == ("ada@example.com", 1, 500.0, 0)


def test_the_csv_export_has_a_row_per_tester(client, admin, usage):
    client.force_login(admin)

    response = client.get(reverse("staff_usage"), {"format": "csv"})

    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="vernissage-usage-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    ada = next(row for row in rows if row["tester"] == "ada@example.com")
    assert ada["cohort"] == "Test cohort" and ada["gpu_seconds"] == "14.0"
    assert ada["approval_rate"] == "0.5" and ada["jobs"] == "3"
    assert {row["tester"] for row in rows} == {
        "ada@example.com",
        "bob@example.com",
        "eve@example.com",
    }


def test_a_cohort_name_a_spreadsheet_would_run_is_defused_in_the_csv(client, admin, tester):
    Cohort.objects.filter(pk=tester.cohort_id).update(name="=HYPERLINK(1)")
    _succeeded(tester, gpu=1.0, days_ago=1)
    client.force_login(admin)

    response = client.get(reverse("staff_usage"), {"format": "csv", "by": "cohort"})

    assert "'=HYPERLINK(1)" in b"".join(response.streaming_content).decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2026-13-01"}, "start"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "start"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "start"),
        ({"by": "model"}, "by"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_a_bad_window_is_refused_naming_the_field(client, admin, query, field):
    client.force_login(admin)

    response = client.get(reverse("staff_usage"), query, headers={"accept": "application/json"})

    assert response.status_code == 400
    assert field in response.json()["errors"]
