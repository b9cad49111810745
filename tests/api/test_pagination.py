"""Cursor pages with a ceiling: every list of the API walks the same way."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from access.api.pagination import MAX_PAGE_SIZE
from generation.models import Job
from tests.factories import make_job, make_output

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def _walk(client, url: str, **params) -> list[list[str]]:
    pages, response = [], client.get(url, params)
    while True:
        body = response.json()
        pages.append([item["id"] for item in body["results"]])
        if not body["next"]:
            return pages
        response = client.get(body["next"])


def test_following_next_walks_every_job_once_newest_first(client, tester):
    jobs = [make_job(tester, prompt=f"shot {n}") for n in range(5)]
    client.force_login(tester)

    pages = _walk(client, reverse("api_jobs"), limit=2)

    assert [len(page) for page in pages] == [2, 2, 1]
    newest_first = sorted(jobs, key=lambda job: job.created_at, reverse=True)
    assert [i for page in pages for i in page] == [str(job.id) for job in newest_first]


def test_a_job_submitted_mid_walk_neither_repeats_nor_shifts_a_row(client, tester):
    old = [make_job(tester) for _ in range(4)]
    client.force_login(tester)
    first = client.get(reverse("api_jobs"), {"limit": 2}).json()

    make_job(tester, prompt="arrived while reading")
    second = client.get(first["next"]).json()

    seen = [item["id"] for item in first["results"] + second["results"]]
    assert sorted(seen) == sorted(str(job.id) for job in old)


def test_a_limit_past_the_maximum_is_clamped_to_it(client, tester):
    template = make_job(tester)
    fields = {f.attname: getattr(template, f.attname) for f in Job._meta.concrete_fields}
    Job.objects.bulk_create([Job(**{**fields, "id": uuid.uuid4()}) for _ in range(MAX_PAGE_SIZE)])
    client.force_login(tester)

    page = client.get(reverse("api_jobs"), {"limit": MAX_PAGE_SIZE + 1}).json()

    assert len(page["results"]) == MAX_PAGE_SIZE and page["next"]


@pytest.mark.parametrize("cursor", ["%%not-base64", "bz0tMQ=="])  # the second: "o=-1"
def test_a_cursor_that_was_never_issued_is_a_400_naming_it(client, tester, cursor):
    client.force_login(tester)

    response = client.get(reverse("api_jobs"), {"cursor": cursor})

    assert response.status_code == 400
    assert "cursor" in response.json()["errors"]


def test_the_review_queue_pages_oldest_first(client, reviewer, tester, outputs_dir):
    outputs = [make_output(tester) for _ in range(3)]
    client.force_login(reviewer)

    pages = _walk(client, reverse("api_review_queue"), limit=2)

    assert [i for page in pages for i in page] == [str(output.id) for output in outputs]
