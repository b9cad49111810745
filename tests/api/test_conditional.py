"""ETag / If-None-Match on job reads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generation.models import Job
from tests.factories import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def test_a_job_read_carries_an_etag_and_an_unchanged_job_answers_304(client, tester):
    job = make_job(tester)
    client.force_login(tester)
    url = reverse("api_job", kwargs={"job_id": job.id})
    first = client.get(url)

    again = client.get(url, headers={"if-none-match": first["ETag"]})

    assert first.status_code == 200 and first["ETag"].startswith('"')
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"]


def test_a_changed_job_answers_200_with_a_new_etag(client, tester):
    job = make_job(tester)
    client.force_login(tester)
    url = reverse("api_job", kwargs={"job_id": job.id})
    first = client.get(url)
    Job.objects.filter(pk=job.pk).update(state=Job.State.CANCELLED)

    again = client.get(url, headers={"if-none-match": first["ETag"]})

    assert again.status_code == 200 and again.json()["state"] == "cancelled"
    assert again["ETag"] != first["ETag"]


@pytest.mark.parametrize("header", ["*", 'W/"{tag}"', '"nope", "{tag}"'])
def test_if_none_match_takes_lists_weak_tags_and_a_star(client, tester, header):
    job = make_job(tester)
    client.force_login(tester)
    url = reverse("api_job", kwargs={"job_id": job.id})
    tag = client.get(url)["ETag"].strip('"')

    response = client.get(url, headers={"if-none-match": header.format(tag=tag)})

    assert response.status_code == 304


def test_another_testers_job_is_404_whatever_the_etag(client, tester, other_tester):
    job = make_job(other_tester)
    client.force_login(tester)

    response = client.get(
        reverse("api_job", kwargs={"job_id": job.id}), headers={"if-none-match": "*"}
    )

    assert response.status_code == 404
