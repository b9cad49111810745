"""Findings (`review.services.findings`): red-teamers report harms; staff triage, resolve them."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from review.models import Finding
from review.services import ReviewError, finding_file, finding_move
from tests.factories import make_output

pytestmark = pytest.mark.django_db


def test_a_red_teamer_files_a_finding_that_only_staff_and_they_can_see(
    client, red_teamer, other_tester, reviewer, outputs_dir
):
    output = make_output(red_teamer)
    finding = finding_file(
        output=output,
        by=red_teamer,
        category="likeness",
        severity="high",
        description="renders a real politician",
    )

    seen = {}
    for user in (red_teamer, other_tester, reviewer):
        client.force_login(user)
        seen[user.email] = (
            "renders a real politician" in client.get(reverse("findings")).content.decode()
        )

    assert seen == {red_teamer.email: True, other_tester.email: False, reviewer.email: True}
    assert finding.state == Finding.State.NEW


def test_an_artist_cannot_file_findings(tester, outputs_dir):
    with pytest.raises(PermissionDenied):
        finding_file(
            output=make_output(tester), by=tester, category="other", severity="low", description="x"
        )


def test_findings_move_new_triaged_resolved_only(red_teamer, reviewer, outputs_dir):
    finding = finding_file(
        output=make_output(red_teamer),
        by=red_teamer,
        category="other",
        severity="low",
        description="odd",
    )

    finding = finding_move(finding=finding, by=reviewer, to="triaged")
    finding = finding_move(finding=finding, by=reviewer, to="resolved", note="known issue")

    assert (finding.state, finding.resolution_note) == ("resolved", "known issue")
    with pytest.raises(ReviewError, match="cannot become"):
        finding_move(finding=finding, by=reviewer, to="triaged")
    with pytest.raises(PermissionDenied):
        finding_move(finding=finding, by=red_teamer, to="resolved")


def test_the_findings_page_is_the_red_teams_and_reviewers_only(
    client, tester, red_teamer, reviewer
):
    statuses = {}
    for user in (tester, red_teamer, reviewer):
        client.force_login(user)
        statuses[user.email] = client.get(reverse("findings")).status_code

    assert statuses == {tester.email: 403, red_teamer.email: 200, reviewer.email: 200}


def test_a_tester_who_moved_out_of_the_red_team_still_reads_their_findings(
    client, red_teamer, tester, outputs_dir
):
    finding_file(
        output=make_output(red_teamer),
        by=red_teamer,
        category="likeness",
        severity="high",
        description="renders a real politician",
    )
    red_teamer.cohort = tester.cohort  # the artist lane now
    red_teamer.save(update_fields=["cohort"])
    client.force_login(red_teamer)

    response = client.get(reverse("findings"))

    assert response.status_code == 200
    assert "renders a real politician" in response.content.decode()
