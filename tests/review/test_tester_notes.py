"""Reviewers' note on a tester (`review.services.tester_notes`) and the tester's record beside
their items (`review.selectors.tester_contexts`): reviewers only, audited, never shown to
testers."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from access.models import AuditEntry
from review import audit, selectors, services
from review.models import Finding, Output
from review.models import TesterNote as Note  # pytest would collect a `Test*` name
from review.services import output_reject
from tests.factories import make_output

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

NOTE = "Pushes on likeness limits; check faces closely"


def test_a_reviewer_sets_the_one_note_on_a_tester_and_it_is_audited(reviewer, tester):
    services.tester_note_set(tester=tester, by=reviewer, body="first")
    note = services.tester_note_set(tester=tester, by=reviewer, body=NOTE)

    assert Note.objects.get() == note
    assert (note.body, note.updated_by) == (NOTE, reviewer)
    entries = AuditEntry.objects.filter(action=audit.TESTER_NOTE_SET).order_by("pk")
    assert [(e.details["before"], e.details["after"]) for e in entries] == [
        ("", "first"),
        ("first", NOTE),
    ]


def test_a_tester_cannot_set_a_note(tester, other_tester):
    with pytest.raises(PermissionDenied):
        services.tester_note_set(tester=other_tester, by=tester, body="hm")
    assert not Note.objects.exists()


@pytest.mark.parametrize("who", ["tester", "other_tester"])
def test_testers_get_403_from_the_note_endpoint(client, tester, other_tester, who):
    client.force_login(tester if who == "tester" else other_tester)

    response = client.post(
        reverse("review_tester_note", kwargs={"user_id": tester.pk}), {"body": "mine"}
    )

    assert response.status_code == 403 and not Note.objects.exists()


def test_testers_never_see_the_note_on_their_pages(client, reviewer, tester, outputs_dir):
    output = output_reject(output=make_output(tester), by=reviewer, reason="Copyrighted material")
    services.tester_note_set(tester=tester, by=reviewer, body=NOTE)
    client.force_login(tester)

    pages = [
        client.get(reverse(name, kwargs=kwargs)).content.decode()
        for name, kwargs in (
            ("output_detail", {"output_id": output.id}),
            ("studio", {}),
            ("my_shares", {}),
            ("api_output", {"output_id": output.id}),
        )
    ]

    assert all(NOTE not in page for page in pages)


def test_the_queue_shows_the_testers_record_and_note(client, reviewer, tester, outputs_dir):
    rejected = output_reject(output=make_output(tester), by=reviewer, reason="Violence or gore")
    Finding.objects.create(
        output=rejected, reporter=reviewer, category="other", severity="low", description="x"
    )
    make_output(tester)
    services.tester_note_set(tester=tester, by=reviewer, body=NOTE)
    client.force_login(reviewer)

    page = client.get(reverse("review_queue")).content.decode()

    assert NOTE in page and "1 rejected" in page and "1 open finding" in page
    assert "Rejected (Violence or gore)" in page


def test_tester_contexts_count_states_and_keep_the_last_three_decisions(
    reviewer, tester, other_tester, outputs_dir
):
    for _ in range(4):
        output_reject(output=make_output(tester), by=reviewer, reason="Violence or gore")
    make_output(tester, state=Output.State.APPROVED)

    contexts = selectors.tester_contexts({tester.pk, other_tester.pk})

    mine = contexts[tester.pk]
    assert mine.counts == {"approved": 1, "rejected": 4, "needs_changes": 0}
    assert len(mine.last_decisions) == 3 and mine.open_findings == 0 and mine.note is None
    assert contexts[other_tester.pk].counts == {"approved": 0, "rejected": 0, "needs_changes": 0}


@pytest.mark.parametrize("whom", ["admin", "self"])
def test_a_note_on_someone_who_is_not_a_tester_is_a_404_and_stores_nothing(
    client, reviewer, admin, whom
):
    target = admin if whom == "admin" else reviewer
    client.force_login(reviewer)

    response = client.post(reverse("review_tester_note", args=[target.pk]), {"body": NOTE})

    assert response.status_code == 404
    assert not Note.objects.exists()


def test_the_service_keeps_notes_on_testers_only(reviewer, admin):
    with pytest.raises(services.ReviewError, match="testers only"):
        services.tester_note_set(tester=admin, by=reviewer, body=NOTE)
    assert not Note.objects.exists()
