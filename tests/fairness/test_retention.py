"""Retention and deletion: deleting erases files, poster and share links while the audit log
keeps who made what; a cohort's retention period deletes old outputs; a legal hold pauses both."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry, Cohort
from fairness.services import (
    FairnessError,
    legal_hold_place,
    legal_hold_release,
    output_delete,
    outputs_retention_sweep,
)
from review.models import Output, ShareLink
from review.services import share_link_create
from tests.factories import make_output

pytestmark = pytest.mark.django_db


def made_days_ago(output: Output, days: int) -> Output:
    Output.objects.filter(pk=output.pk).update(created_at=timezone.now() - timedelta(days=days))
    return output


def test_deleting_erases_the_files_and_share_links_and_the_audit_log_keeps_the_trace(
    client, tester, approved, outputs_dir, django_capture_on_commit_callbacks
):
    link = share_link_create(output=approved, by=tester)

    with django_capture_on_commit_callbacks(execute=True):
        output_delete(output=approved, by=tester)

    output = Output.objects.get(pk=approved.pk)
    assert output.state == Output.State.DELETED and output.deleted_at is not None
    assert not (outputs_dir / approved.video_name).exists()
    assert not (outputs_dir / approved.poster_name).exists()
    assert client.get(reverse("shared_page", kwargs={"token": link.token})).status_code == 404
    trace = AuditEntry.objects.get(action="review.output.erased")
    assert trace.target_id == str(approved.id)
    assert trace.details["tester_email"] == tester.email
    assert trace.details["job"] == str(approved.job_id)
    assert trace.details["sha256"] == approved.sha256
    assert trace.details["share_links_revoked"] == 1


def test_deleting_erases_each_share_links_marked_copy_and_keeps_every_serial(
    tester, approved, outputs_dir, django_capture_on_commit_callbacks
):
    Output.objects.filter(pk=approved.pk).update(mark_serial=4_000_001)
    approved.refresh_from_db()
    link = share_link_create(output=approved, by=tester)
    copy = outputs_dir / "shares" / str(link.pk)
    copy.mkdir(parents=True)
    (copy / "video.mp4").write_bytes(b"the link's marked copy")
    (copy / "poster.jpg").write_bytes(b"its poster")
    ShareLink.objects.filter(pk=link.pk).update(
        mark_serial=4_000_002, marked_video_name=f"shares/{link.pk}/video.mp4"
    )

    with django_capture_on_commit_callbacks(execute=True):
        output_delete(output=approved, by=tester)

    assert not (copy / "video.mp4").exists() and not (copy / "poster.jpg").exists()
    trace = AuditEntry.objects.get(action="review.output.erased")
    # A clip leaked before the deletion still names its output, its link and its tester.
    assert trace.details["mark_serial"] == 4_000_001
    assert trace.details["share_link_serials"] == {str(link.pk): 4_000_002}


def test_a_legal_hold_pauses_deletion_by_the_artist_and_by_retention(
    tester, admin, cohort, approved, outputs_dir
):
    Cohort.objects.filter(pk=cohort.pk).update(retention_days=30)
    made_days_ago(approved, 40)
    hold = legal_hold_place(tester=tester, by=admin, reason="Leak investigation #12")

    with pytest.raises(FairnessError, match="legal hold"):
        output_delete(output=approved, by=tester)
    assert outputs_retention_sweep() == 0
    assert Output.objects.get(pk=approved.pk).state == Output.State.APPROVED

    legal_hold_release(hold=hold, by=admin)

    assert outputs_retention_sweep() == 1
    assert Output.objects.get(pk=approved.pk).state == Output.State.DELETED
    assert list(
        AuditEntry.objects.filter(action__startswith="fairness.legal_hold.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["fairness.legal_hold.placed", "fairness.legal_hold.released"]


def test_retention_deletes_only_outputs_past_their_cohorts_period(
    tester, outsider, cohort, outputs_dir
):
    Cohort.objects.filter(pk=cohort.pk).update(retention_days=30)
    old = made_days_ago(make_output(tester), 31)
    recent = made_days_ago(make_output(tester), 29)
    no_retention = made_days_ago(make_output(outsider), 400)

    assert outputs_retention_sweep() == 1

    states = dict(Output.objects.values_list("pk", "state"))
    assert states == {old.pk: "deleted", recent.pk: "pending", no_retention.pk: "pending"}


def test_only_program_staff_place_holds_and_only_the_artist_deletes(
    tester, other_tester, reviewer, approved
):
    with pytest.raises(PermissionDenied):
        legal_hold_place(tester=tester, by=reviewer, reason="curious")
    with pytest.raises(PermissionDenied):
        output_delete(output=approved, by=other_tester)

    assert Output.objects.get(pk=approved.pk).state == Output.State.APPROVED


def test_the_artist_confirms_and_is_told_the_trace_stays(client, tester, approved):
    client.force_login(tester)
    url = reverse("output_delete", kwargs={"output_id": approved.id})

    assert client.post(url, {}).status_code == 400
    page = client.post(url, {"confirm": "1"}, follow=True).content.decode()

    assert "stays in the audit log" in page
    assert Output.objects.get(pk=approved.pk).state == Output.State.DELETED
