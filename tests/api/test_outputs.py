"""Outputs over the API: the caller's list (filtered), one output with its review state and reason,
and downloads through short-lived signed links that stop the moment access ends."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.services import token_revoke
from containment.services import cohort_suspend
from containment.services import tester_suspend as suspend
from review.media import DOWNLOAD_URL_TTL
from review.models import Output
from review.services import output_erase
from tests.factories import make_output

pytestmark = pytest.mark.django_db


def _path(url: str) -> str:
    return urlsplit(url).path


def test_the_list_holds_only_the_callers_outputs_newest_first(
    tester, other_tester, token_client, outputs_dir
):
    older, newer = make_output(tester), make_output(tester, state=Output.State.APPROVED)
    make_output(other_tester)

    page = token_client(tester).get(reverse("api_outputs")).json()

    assert [item["id"] for item in page["results"]] == [str(newer.id), str(older.id)]


def test_the_list_costs_the_same_queries_for_one_output_or_many(tester, token_client, outputs_dir):
    client = token_client(tester)
    make_output(tester)
    client.get(reverse("api_outputs"))  # the token's first use is recorded once

    with CaptureQueriesContext(connection) as one:
        assert len(client.get(reverse("api_outputs")).json()["results"]) == 1
    for _ in range(4):
        make_output(tester, state=Output.State.APPROVED)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get(reverse("api_outputs")).json()["results"]) == 5

    assert len(five.captured_queries) == len(one.captured_queries)


def test_the_list_filters_by_review_state_and_model(tester, token_client, outputs_dir):
    make_output(tester)
    rejected = make_output(tester, state=Output.State.REJECTED)
    client = token_client(tester)

    by_state = client.get(reverse("api_outputs"), {"state": "rejected"}).json()["results"]
    by_model = client.get(reverse("api_outputs"), {"model": "other-model"}).json()["results"]

    assert [item["id"] for item in by_state] == [str(rejected.id)]
    assert by_model == []


def test_an_output_shows_its_review_state_and_reason(tester, token_client, outputs_dir):
    output = make_output(tester, state=Output.State.REJECTED)

    body = token_client(tester).get(reverse("api_output", kwargs={"output_id": output.id})).json()

    assert body["review"]["state"] == "rejected"
    assert body["review"]["state_label"] == "Rejected"
    assert body["review"]["reason"] == "not for sharing"
    assert (body["model"], body["prompt"], body["job_id"]) == (
        "demo",
        "a lighthouse",
        str(output.job_id),
    )


def test_a_bearer_token_downloads_the_video_through_a_signed_link(
    tester, token_client, outputs_dir
):
    output = make_output(tester)

    redirect = token_client(tester).get(
        reverse("api_output_content", kwargs={"output_id": output.id})
    )
    download = Client().get(_path(redirect["Location"]))  # the link alone: no token, no session

    assert redirect.status_code == 302
    assert download.status_code == 200
    assert download["Content-Type"] == "video/mp4"
    stored = (outputs_dir / output.video_name).read_bytes()
    assert b"".join(download.streaming_content) == stored


def test_the_signed_links_in_an_output_serve_the_video_and_poster_with_ranges(
    tester, token_client, outputs_dir
):
    output = make_output(tester)
    files = (
        token_client(tester)
        .get(reverse("api_output", kwargs={"output_id": output.id}))
        .json()["files"]
    )

    poster = Client().get(_path(files["poster_url"]))
    first_bytes = Client().get(_path(files["content_url"]), headers={"Range": "bytes=0-9"})

    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"
    assert first_bytes.status_code == 206 and len(b"".join(first_bytes.streaming_content)) == 10


def test_a_signed_link_expires(tester, token_client, outputs_dir, monkeypatch):
    output = make_output(tester)
    made_at = time.time() - DOWNLOAD_URL_TTL.total_seconds() - 1
    with monkeypatch.context() as clock:  # the link was made just over its lifetime ago
        clock.setattr(signing.time, "time", lambda: made_at)
        url = token_client(tester).get(reverse("api_output", kwargs={"output_id": output.id}))
    link = url.json()["files"]["content_url"]

    response = Client().get(_path(link))

    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_an_altered_signed_link_is_refused(tester, token_client, outputs_dir):
    output = make_output(tester)
    link = _path(
        token_client(tester)
        .get(reverse("api_output", kwargs={"output_id": output.id}))
        .json()["files"]["content_url"]
    )
    forged = link.replace("/downloads/", "/downloads/x")

    assert Client().get(forged).status_code == 403
    assert Client().get(reverse("api_download", kwargs={"signed": "nonsense"})).status_code == 403
    assert Client().get(reverse("api_download", kwargs={"signed": "a" * 5000})).status_code == 403


def _content_link(client: Client, output: Output) -> str:
    response = client.get(reverse("api_output_content", kwargs={"output_id": output.id}))
    return _path(response["Location"])


@pytest.mark.parametrize(
    "end_access",
    [
        lambda tester, admin: suspend(tester=tester, by=admin, reason="a leak"),
        lambda tester, admin: cohort_suspend(cohort=tester.cohort, by=admin, reason="a leak"),
    ],
    ids=["tester suspended", "cohort suspended"],
)
def test_containment_stops_a_signed_link_at_once(
    tester, admin, token_client, outputs_dir, end_access
):
    output = make_output(tester)
    link = _content_link(token_client(tester), output)
    assert Client().get(link).status_code == 200

    end_access(tester, admin)

    assert Client().get(link).status_code == 404


def test_revoking_the_token_stops_the_links_it_made(tester, token_client, outputs_dir):
    output = make_output(tester)
    client = token_client(tester)
    link = _content_link(client, output)
    token = tester.api_tokens.get()

    token_revoke(token=token, by=tester)

    assert Client().get(link).status_code == 404


def test_a_deleted_output_has_no_links_and_old_ones_stop(tester, token_client, outputs_dir):
    output = make_output(tester)
    client = token_client(tester)
    link = _content_link(client, output)

    output_erase(output=output, by=tester, why="the artist deleted it")

    assert Client().get(link).status_code == 404
    detail = client.get(reverse("api_output", kwargs={"output_id": output.id})).json()
    assert detail["files"] is None
    assert (
        client.get(reverse("api_output_content", kwargs={"output_id": output.id})).status_code
        == 404
    )


def test_a_reviewer_downloads_any_output_but_another_tester_none(
    tester, other_tester, reviewer, token_client, outputs_dir
):
    output = make_output(tester)
    url = reverse("api_output_content", kwargs={"output_id": output.id})

    assert token_client(reviewer).get(url).status_code == 302
    assert token_client(other_tester).get(url).status_code == 404


@pytest.mark.parametrize(
    ("query", "field"), [({"state": "bogus"}, "state"), ({"model": "x" * 41}, "model")]
)
def test_a_bad_filter_is_a_400_naming_it(tester, token_client, query, field):
    response = token_client(tester).get(reverse("api_outputs"), query)

    assert response.status_code == 400
    assert field in response.content.decode()
