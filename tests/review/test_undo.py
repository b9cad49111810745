"""Undo (`review.services.undo`): a reviewer takes their own latest decision back within the
window; anyone else, anything later or anything older is refused (409 through the page)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry
from review import audit
from review.models import Approval, Output, ShareLink
from review.services import (
    ReviewError,
    output_approve,
    output_decision_undo,
    output_reject,
    output_request_changes,
    output_set_gallery,
    share_link_create,
)
from tests.factories import make_output

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

REASON = "Copyrighted material"


@pytest.fixture
def second_reviewer(make_user):
    return make_user("sam@vernissage.local", reviewer=True)


def _backdate(output: Output, seconds: int) -> None:
    Output.objects.filter(id=output.id).update(
        decided_at=timezone.now() - timedelta(seconds=seconds)
    )


@pytest.mark.parametrize("decision", ["reject", "changes"])
def test_undo_puts_a_decided_item_back_in_the_queue_claimed_by_its_reviewer(
    reviewer, tester, outputs_dir, decision
):
    output = make_output(tester)
    if decision == "reject":
        output_reject(output=output, by=reviewer, reason=REASON)
    else:
        output_request_changes(output=output, by=reviewer, note="less fog")

    undone = output_decision_undo(output=output, by=reviewer)

    assert undone.state == Output.State.PENDING
    assert (undone.decided_by, undone.decided_at, undone.decision_reason, undone.decision_note) == (
        None,
        None,
        "",
        "",
    )
    assert undone.claimed_by == reviewer and undone.claim_expires_at > timezone.now()
    entry = AuditEntry.objects.get(action=audit.OUTPUT_DECISION_UNDONE)
    assert entry.actor == reviewer
    assert entry.details["undone"] == ("rejected" if decision == "reject" else "needs_changes")


def test_undoing_an_approval_withdraws_the_links_and_gallery_place_it_made_possible(
    reviewer, tester, outputs_dir
):
    output = output_approve(output=make_output(tester), by=reviewer)
    link = share_link_create(output=output, by=tester)
    output_set_gallery(output=output, by=tester, visible=True)

    undone = output_decision_undo(output=output, by=reviewer)

    assert undone.state == Output.State.PENDING and undone.approved_sha256 == ""
    assert not undone.in_gallery
    assert ShareLink.objects.get(pk=link.pk).revoked_at is not None
    assert not Approval.objects.filter(output=output).exists()
    entry = AuditEntry.objects.get(action=audit.OUTPUT_DECISION_UNDONE)
    assert entry.details["share_links_revoked"] == 1


def test_undoing_one_approval_of_two_keeps_the_item_pending_without_it(
    reviewer, second_reviewer, red_teamer, outputs_dir
):
    output = make_output(red_teamer)
    Output.objects.filter(id=output.id).update(approvals_required=2)
    output_approve(output=output, by=reviewer)

    undone = output_decision_undo(output=output, by=reviewer)

    assert undone.state == Output.State.PENDING
    assert not Approval.objects.filter(output=output).exists()
    assert AuditEntry.objects.get(action=audit.OUTPUT_DECISION_UNDONE).details["undone"] == (
        "approval"
    )


def test_another_reviewer_cannot_undo_a_decision(reviewer, second_reviewer, tester, outputs_dir):
    output = output_reject(output=make_output(tester), by=reviewer, reason=REASON)

    with pytest.raises(ReviewError, match="Only the reviewer who made the latest decision"):
        output_decision_undo(output=output, by=second_reviewer)

    assert Output.objects.get(id=output.id).state == Output.State.REJECTED


def test_a_decision_older_than_the_window_stands(reviewer, tester, outputs_dir, settings):
    settings.REVIEW_UNDO_SECONDS = 10
    output = output_reject(output=make_output(tester), by=reviewer, reason=REASON)
    _backdate(output, 11)

    with pytest.raises(ReviewError, match="Too late to undo"):
        output_decision_undo(output=output, by=reviewer)

    assert Output.objects.get(id=output.id).state == Output.State.REJECTED
    assert not AuditEntry.objects.filter(action=audit.OUTPUT_DECISION_UNDONE).exists()


def test_undo_refuses_an_item_nobody_decided(reviewer, tester, outputs_dir):
    with pytest.raises(ReviewError, match="no decision of yours"):
        output_decision_undo(output=make_output(tester), by=reviewer)


def test_a_tester_cannot_undo_anything(reviewer, tester, outputs_dir):
    output = output_reject(output=make_output(tester), by=reviewer, reason=REASON)

    with pytest.raises(PermissionDenied):
        output_decision_undo(output=output, by=tester)


def test_the_undo_endpoint_answers_json_and_409_when_too_late(
    client, reviewer, tester, outputs_dir
):
    output = output_reject(output=make_output(tester), by=reviewer, reason=REASON)
    client.force_login(reviewer)
    url = reverse("review_undo", kwargs={"output_id": output.id})

    first = client.post(url, HTTP_ACCEPT="application/json")
    second = client.post(url, HTTP_ACCEPT="application/json")

    assert first.status_code == 200 and first.json()["ok"] is True
    assert second.status_code == 409 and "no decision of yours" in second.json()["message"]


@pytest.mark.parametrize("who", ["tester", "other_tester"])
def test_non_moderators_get_403_from_the_undo_endpoint(
    client, reviewer, tester, other_tester, outputs_dir, who
):
    output = output_reject(output=make_output(tester), by=reviewer, reason=REASON)
    client.force_login(tester if who == "tester" else other_tester)

    response = client.post(reverse("review_undo", kwargs={"output_id": output.id}))

    assert response.status_code == 403
    assert Output.objects.get(id=output.id).state == Output.State.REJECTED


@pytest.mark.parametrize("next_decision", ["reject", "approve"])
def test_undo_is_refused_once_the_reviewer_has_decided_another_item(
    reviewer, tester, outputs_dir, next_decision
):
    first, second = make_output(tester), make_output(tester)
    output_reject(output=first, by=reviewer, reason=REASON)
    if next_decision == "reject":
        output_reject(output=second, by=reviewer, reason=REASON)
    else:
        output_approve(output=second, by=reviewer)

    with pytest.raises(ReviewError, match="decided another item since"):
        output_decision_undo(output=first, by=reviewer)
    assert Output.objects.get(id=first.id).state == Output.State.REJECTED


def test_undo_through_the_page_after_another_decision_is_a_409(
    client, reviewer, tester, outputs_dir
):
    first, second = make_output(tester), make_output(tester)
    output_reject(output=first, by=reviewer, reason=REASON)
    output_request_changes(output=second, by=reviewer, note="less fog")
    client.force_login(reviewer)

    response = client.post(reverse("review_undo", args=[first.id]), HTTP_ACCEPT="application/json")

    assert response.status_code == 409
    assert "decided another item since" in response.json()["message"]
