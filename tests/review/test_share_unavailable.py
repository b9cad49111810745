"""A share link that no longer opens says why, in words for an anonymous visitor
(`review.selectors.share_link_unavailable_reason`), and never names the artist's private
situation: no reason typed by staff, no cohort name, no email."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import Program, User
from review.models import Output, ShareLink
from review.services import share_link_create, share_link_revoke
from tests.factories import make_output

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

PRIVATE = "confidential reason 7731"


@pytest.fixture
def link(tester, outputs_dir) -> ShareLink:
    output = make_output(tester, state=Output.State.APPROVED)
    return share_link_create(output=output, by=tester)


def _pause_program() -> None:
    Program.objects.update_or_create(
        pk=1, defaults={"paused_at": timezone.now(), "pause_reason": PRIVATE}
    )


def _suspend_cohort(tester: User) -> None:
    cohort = tester.cohort
    cohort.suspended_at, cohort.suspension_reason = timezone.now(), PRIVATE
    cohort.save()


def _set_standing(standing: str):
    def apply(tester: User) -> None:
        User.objects.filter(pk=tester.pk).update(standing=standing, standing_reason=PRIVATE)

    return apply


def _revoke_link(link: ShareLink) -> None:
    share_link_revoke(link=link, by=link.created_by)


def _expire_link(link: ShareLink) -> None:
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(hours=1))


@pytest.mark.parametrize(
    ("cause", "says"),
    [
        ("paused", "The program this video was made in is paused for now."),
        ("cohort", "The group of artists this video comes from is paused for now."),
        ("suspended", "The artist's links are on hold for now."),
        ("revoked_tester", "The artist's part in the program has ended"),
        ("revoked_link", "This link was revoked."),
        ("expired", "This link has expired."),
    ],
)
def test_each_cause_says_its_own_reason_without_private_details(client, tester, link, cause, says):
    {
        "paused": lambda: _pause_program(),
        "cohort": lambda: _suspend_cohort(tester),
        "suspended": lambda: _set_standing(User.Standing.SUSPENDED)(tester),
        "revoked_tester": lambda: _set_standing(User.Standing.REVOKED)(tester),
        "revoked_link": lambda: _revoke_link(link),
        "expired": lambda: _expire_link(link),
    }[cause]()

    response = client.get(reverse("shared_page", kwargs={"token": link.token}))

    page = response.content.decode()
    assert response.status_code == 404 and says in page
    assert "may have been revoked" not in page
    for private in (PRIVATE, tester.email, tester.cohort.name):
        assert private not in page


def test_a_paused_programs_page_says_paused_even_for_a_suspended_artist(client, tester, link):
    _set_standing(User.Standing.SUSPENDED)(tester)
    _pause_program()

    page = client.get(reverse("shared_page", kwargs={"token": link.token})).content.decode()

    assert "paused for now" in page and "on hold" not in page


def test_an_unknown_token_discloses_nothing(client, db):
    response = client.get(reverse("shared_page", kwargs={"token": "x" * 43}))

    assert response.status_code == 404
    assert "There is no video at this address" in response.content.decode()
