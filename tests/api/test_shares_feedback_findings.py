"""Share links, feedback and findings over the API: the output page's services, the same rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry
from review import audit
from review.models import Feedback, Finding, Output, ShareLink
from tests.factories import make_output

pytestmark = pytest.mark.django_db


def _post(client: Client, name: str, body, **kwargs):
    return client.post(reverse(name, kwargs=kwargs), body, content_type="application/json")


# --- share links -------------------------------------------------------------------------------


def test_an_approved_output_is_shared_with_an_expiry(tester, token_client, outputs_dir):
    output = make_output(tester, state=Output.State.APPROVED)

    response = _post(
        token_client(tester),
        "api_output_shares",
        {"expires_in_days": 7, "show_prompt": True},
        output_id=output.id,
    )

    assert response.status_code == 201, response.content
    link = ShareLink.objects.get()
    body = response.json()
    assert body["url"].endswith(reverse("shared_page", kwargs={"token": link.token}))
    assert body["show_prompt"] is True and body["active"] is True
    assert abs(link.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert AuditEntry.objects.filter(action=audit.SHARE_LINK_CREATED).count() == 1


def test_an_output_awaiting_review_cannot_be_shared(tester, token_client, outputs_dir):
    output = make_output(tester)

    response = _post(token_client(tester), "api_output_shares", {}, output_id=output.id)

    assert response.status_code == 409
    assert "approved" in response.content.decode()
    assert not ShareLink.objects.exists()


def test_the_share_list_counts_views(tester, token_client, outputs_dir, world):
    Client().get(reverse("shared_page", kwargs={"token": world.link.token}))
    Client().get(reverse("shared_page", kwargs={"token": world.link.token}))

    page = token_client(tester).get(reverse("api_shares")).json()

    assert [(item["id"], item["view_count"]) for item in page["results"]] == [(world.link.pk, 2)]


def test_the_share_list_filters_by_output(tester, token_client, world, outputs_dir):
    other = make_output(tester, state=Output.State.APPROVED)

    page = token_client(tester).get(reverse("api_shares"), {"output": str(other.id)}).json()

    assert page["results"] == []


def test_a_revoked_link_stops_resolving(tester, token_client, world):
    response = _post(token_client(tester), "api_share_revoke", {}, link_id=world.link.pk)

    assert response.status_code == 200
    assert response.json()["active"] is False
    assert (
        Client().get(reverse("shared_page", kwargs={"token": world.link.token})).status_code == 404
    )
    assert AuditEntry.objects.filter(action=audit.SHARE_LINK_REVOKED).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_in_days": "7"}, "expires_in_days"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 366}, "expires_in_days"),
        ({"show_prompt": "yes"}, "show_prompt"),
    ],
)
def test_a_bad_share_request_is_a_400_naming_the_field(
    tester, token_client, outputs_dir, body, field
):
    output = make_output(tester, state=Output.State.APPROVED)

    response = _post(token_client(tester), "api_output_shares", body, output_id=output.id)

    assert response.status_code == 400
    assert field in response.content.decode()
    assert not ShareLink.objects.exists()


# --- feedback ----------------------------------------------------------------------------------


def test_feedback_is_given_and_replaced(tester, token_client, outputs_dir):
    output, client = make_output(tester), token_client(tester)

    _post(client, "api_output_feedback", {"rating": 2}, output_id=output.id)
    response = _post(
        client, "api_output_feedback", {"rating": 5, "notes": "better"}, output_id=output.id
    )

    assert response.status_code == 200
    assert list(Feedback.objects.values_list("rating", "notes")) == [(5, "better")]
    shown = client.get(reverse("api_output_feedback", kwargs={"output_id": output.id})).json()
    assert (shown["rating"], shown["notes"]) == (5, "better")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": 6}, "rating"),
        ({"rating": "5"}, "rating"),
        ({}, "rating"),
        ({"rating": 3, "notes": "x" * 2001}, "notes"),
        ({"rating": 3, "notes": "a\x07b"}, "notes"),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(tester, token_client, outputs_dir, body, field):
    output = make_output(tester)

    response = _post(token_client(tester), "api_output_feedback", body, output_id=output.id)

    assert response.status_code == 400
    assert field in response.content.decode()
    assert not Feedback.objects.exists()


# --- findings ----------------------------------------------------------------------------------


def test_a_red_teamer_files_a_finding_and_sees_only_their_own(
    red_teamer, reviewer, token_client, world, outputs_dir
):
    own = make_output(red_teamer)
    client = token_client(red_teamer)

    response = _post(
        client,
        "api_output_findings",
        {"category": "likeness", "severity": "high", "description": "a famous face"},
        output_id=own.id,
    )

    assert response.status_code == 201, response.content
    listed = client.get(reverse("api_findings")).json()["results"]
    assert [item["id"] for item in listed] == [response.json()["id"]]  # not the reviewer's
    assert AuditEntry.objects.filter(action=audit.FINDING_FILED).count() == 2


def test_a_reviewer_lists_every_finding_and_moves_one(reviewer, red_teamer, token_client, world):
    client = token_client(reviewer)

    listed = client.get(reverse("api_findings"), {"state": "new"}).json()["results"]
    moved = _post(
        client,
        "api_finding_move",
        {"to": "resolved", "note": "known issue"},
        finding_id=world.finding.pk,
    )
    again = _post(client, "api_finding_move", {"to": "triaged"}, finding_id=world.finding.pk)

    assert [item["id"] for item in listed] == [world.finding.pk]
    assert moved.status_code == 200 and moved.json()["state"] == "resolved"
    assert again.status_code == 409  # a resolved finding stays resolved
    assert Finding.objects.get().resolution_note == "known issue"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "nope", "severity": "low", "description": "x"}, "category"),
        ({"category": "x\ud800y", "severity": "low", "description": "x"}, "category"),
        ({"category": "other", "severity": "extreme", "description": "x"}, "severity"),
        ({"category": "other", "severity": "low", "description": ""}, "description"),
        ({"category": "other", "severity": "low"}, "description"),
    ],
)
def test_a_bad_finding_is_a_400_naming_the_field(
    red_teamer, token_client, outputs_dir, body, field
):
    output = make_output(red_teamer)

    response = _post(token_client(red_teamer), "api_output_findings", body, output_id=output.id)

    assert response.status_code == 400
    assert field in response.content.decode()
    assert not Finding.objects.exists()


def test_a_bad_finding_move_is_a_400_naming_the_field(reviewer, token_client, world):
    response = _post(
        token_client(reviewer), "api_finding_move", {"to": "bogus"}, finding_id=world.finding.pk
    )

    assert response.status_code == 400
    assert "to" in response.json().__repr__()
