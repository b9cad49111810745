"""Appeals: once per rejected or needs-changes output, never decided by the reviewer who made the
decision, due within the appeal SLA, and the outcome with its reason reaches the artist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from fairness.models import Appeal
from fairness.services import FairnessError, appeal_decide, appeal_file
from review.models import Output
from tests.factories import make_output

pytestmark = pytest.mark.django_db


def test_an_appeal_never_goes_to_the_reviewer_who_decided(tester, reviewer, rejected_by_rita):
    appeal = appeal_file(output=rejected_by_rita, by=tester, note="It is a painting, not gore.")

    with pytest.raises(FairnessError, match="a reviewer other than the one who decided"):
        appeal_decide(appeal=appeal, by=reviewer, overturn=True, note="fine")

    appeal.refresh_from_db()
    assert (appeal.state, appeal.original_reviewer) == (Appeal.State.OPEN, reviewer)
    assert Output.objects.get(pk=rejected_by_rita.pk).state == Output.State.REJECTED


def test_the_database_refuses_an_appeal_decided_by_its_original_reviewer(
    tester, reviewer, rejected_by_rita
):
    appeal = appeal_file(output=rejected_by_rita, by=tester, note="please look again")

    with pytest.raises(IntegrityError), transaction.atomic():
        Appeal.objects.filter(pk=appeal.pk).update(decided_by=reviewer)


def test_a_second_reviewer_overturns_and_the_artist_is_told_once_with_the_reason(
    tester, second_reviewer, rejected_by_rita, django_capture_on_commit_callbacks
):
    appeal = appeal_file(output=rejected_by_rita, by=tester, note="It is a painting, not gore.")

    with django_capture_on_commit_callbacks(execute=True):
        appeal_decide(appeal=appeal, by=second_reviewer, overturn=True, note="Stylised, fine.")

    output = Output.objects.get(pk=rejected_by_rita.pk)
    assert (output.state, output.decided_by, output.decision_reason) == (
        Output.State.APPROVED,
        second_reviewer,
        "Approved on appeal",
    )
    assert output.approved_sha256 == output.sha256
    assert Appeal.objects.get().state == Appeal.State.OVERTURNED
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [tester.email]
    assert "Decision overturned" in mail.outbox[0].body
    assert "Reason: Stylised, fine." in mail.outbox[0].body


def test_an_upheld_appeal_leaves_the_decision_and_gives_the_reason(
    tester, second_reviewer, rejected_by_rita, django_capture_on_commit_callbacks
):
    appeal = appeal_file(output=rejected_by_rita, by=tester, note="please look again")

    with django_capture_on_commit_callbacks(execute=True):
        appeal_decide(appeal=appeal, by=second_reviewer, overturn=False, note="Too graphic.")

    assert Output.objects.get(pk=rejected_by_rita.pk).state == Output.State.REJECTED
    assert Appeal.objects.get().decision_note == "Too graphic."
    assert "Decision upheld" in mail.outbox[0].body
    with pytest.raises(FairnessError, match="already decided"):
        appeal_decide(appeal=appeal, by=second_reviewer, overturn=True, note="changed my mind")


def test_an_output_is_appealed_once_and_only_after_a_rejection_or_changes(
    tester, rejected_by_rita, outputs_dir
):
    appeal = appeal_file(output=rejected_by_rita, by=tester, note="please look again")

    with pytest.raises(FairnessError, match="appealed once"):
        appeal_file(output=rejected_by_rita, by=tester, note="and again")
    for state in (Output.State.PENDING, Output.State.APPROVED):
        with pytest.raises(FairnessError, match="Only a rejected or needs-changes output"):
            appeal_file(output=make_output(tester, state=state), by=tester, note="why")

    expected = timezone.now() + timedelta(hours=settings.APPEAL_SLA_HOURS)
    assert abs(appeal.due_at - expected) < timedelta(minutes=1)
    assert Appeal.objects.count() == 1


def test_the_artist_appeals_from_their_page_and_others_find_nothing(
    client, tester, other_tester, rejected_by_rita
):
    url = reverse("output_appeal", kwargs={"output_id": rejected_by_rita.id})
    client.force_login(other_tester)
    assert client.post(url, {"note": "mine now"}).status_code == 404

    client.force_login(tester)
    assert client.post(url, {"note": ""}).status_code == 400
    assert client.post(url, {"note": "It is a painting."}).status_code == 302

    page = client.get(reverse("artist_home")).content.decode()
    assert "Under appeal" in page and "by another reviewer" in page
    assert Appeal.objects.get().author == tester


def test_an_overturn_in_a_two_approval_lane_goes_back_to_the_queue_for_the_second(
    tester, reviewer, second_reviewer, make_user, outputs_dir, django_capture_on_commit_callbacks
):
    """The red-team lane's two approvals hold on appeal too: one reviewer overturning is one
    approval, and the output waits for another before anything can be shared."""
    from review.services import ReviewError, output_approve, output_reject

    output = make_output(tester)
    Output.objects.filter(pk=output.pk).update(approvals_required=2)
    output = output_reject(output=output, by=reviewer, reason="Violence or gore", note="too dark")
    appeal = appeal_file(output=output, by=tester, note="It is a painting.")

    with django_capture_on_commit_callbacks(execute=True):
        appeal_decide(appeal=appeal, by=second_reviewer, overturn=True, note="Stylised, fine.")

    waiting = Output.objects.get(pk=output.pk)
    assert (waiting.state, waiting.approvals.count()) == (Output.State.PENDING, 1)
    assert "back in the review queue" in mail.outbox[-1].body
    with pytest.raises(ReviewError, match="already approved"):
        output_approve(output=waiting, by=second_reviewer)  # not twice by the same reviewer

    output_approve(output=waiting, by=make_user("third@vernissage.local", reviewer=True))

    assert Output.objects.get(pk=output.pk).state == Output.State.APPROVED
