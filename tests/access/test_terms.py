"""Versioned program terms: accepted before the studio, asked again for each new version."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry, TermsAcceptance
from access.services import AccessError, terms_accept, terms_publish
from generation.services import JobRejected
from tests.factories import submit_job

pytestmark = pytest.mark.django_db

TERMS = reverse("terms")


def _accept(client, version: int, **extra):
    return client.post(
        TERMS, {"version": str(version), "accept": "yes", "next": "/studio/", **extra}
    )


def test_a_tester_is_sent_to_the_terms_before_the_studio(signed_in, terms_v1):
    response = signed_in.get(reverse("studio"))

    assert response.status_code == 302
    assert response.url == f"{TERMS}?next=/studio/"
    page = signed_in.get(response.url)
    assert page.status_code == 200
    assert "Alpha terms" in page.content.decode() and 'value="/studio/"' in page.content.decode()


def test_the_token_page_waits_for_the_terms_too(signed_in, terms_v1):
    response = signed_in.get(reverse("tokens"))

    assert response.status_code == 302 and response.url == f"{TERMS}?next=/tokens/"


def test_job_submit_refuses_until_the_terms_are_accepted(tester, terms_v1, dispatched):
    with pytest.raises(JobRejected, match="Accept the current program terms first"):
        submit_job(tester, prompt="a glacier")


def test_accepting_records_version_time_ip_and_an_audit_entry(signed_in, tester, terms_v1):
    before = timezone.now()

    response = _accept(signed_in, 1)

    assert response.status_code == 302 and response.url == "/studio/"
    acceptance = TermsAcceptance.objects.get()
    assert (acceptance.user, acceptance.terms.version, acceptance.ip) == (tester, 1, "127.0.0.1")
    assert before <= acceptance.created_at <= timezone.now()
    entry = AuditEntry.objects.get(action="access.terms.accepted")
    assert (entry.actor, entry.details, entry.ip) == (tester, {"version": 1}, "127.0.0.1")
    assert signed_in.get(reverse("studio")).status_code == 200


def test_accepting_does_not_redirect_off_site(signed_in, terms_v1):
    response = _accept(signed_in, 1, next="https://evil.example/phish")

    assert response.status_code == 302 and response.url == "/studio/"


def test_the_terms_are_not_accepted_without_the_tick(signed_in, terms_v1):
    response = signed_in.post(TERMS, {"version": "1", "next": "/studio/"})

    assert response.status_code == 200
    assert "Tick the box" in response.content.decode()
    assert not TermsAcceptance.objects.exists()


def test_accepting_a_version_that_was_replaced_while_reading_is_refused(
    signed_in, tester, terms_v1
):
    terms_publish(title="Alpha terms, revised", body="Still secret.", by=None)

    response = _accept(signed_in, 1)

    assert "The terms changed while you were reading" in response.content.decode()
    assert not TermsAcceptance.objects.exists()
    with pytest.raises(AccessError, match="not the current terms"):
        terms_accept(user=tester, terms=terms_v1)


def test_publishing_a_new_version_asks_everyone_again(signed_in, tester, terms_v1, admin):
    _accept(signed_in, 1)

    terms_publish(title="Alpha terms", body="Now with a clause about likenesses.", by=admin)

    response = signed_in.get(reverse("studio"))
    assert response.status_code == 302 and response.url.startswith(TERMS)
    assert "version 2" in signed_in.get(TERMS).content.decode()
    _accept(signed_in, 2)
    assert signed_in.get(reverse("studio")).status_code == 200


def test_each_job_stores_the_terms_version_its_owner_had_accepted(
    tester, terms_v1, admin, dispatched
):
    terms_accept(user=tester, terms=terms_v1)
    first = submit_job(tester, prompt="a glacier")
    second_terms = terms_publish(title="v2", body="More.", by=admin)
    terms_accept(user=tester, terms=second_terms)

    second = submit_job(tester, prompt="a glacier")

    first.refresh_from_db()
    assert (first.terms_version, second.terms_version) == (1, 2)


def test_a_job_from_before_any_terms_stores_none(tester, dispatched):
    assert submit_job(tester, prompt="a glacier").terms_version is None


def test_accepting_twice_records_one_acceptance(tester, terms_v1):
    terms_accept(user=tester, terms=terms_v1)
    terms_accept(user=tester, terms=terms_v1)

    assert TermsAcceptance.objects.count() == 1
    assert AuditEntry.objects.filter(action="access.terms.accepted").count() == 1


def test_staff_are_not_asked_for_tester_terms(client, admin, terms_v1):
    client.force_login(admin)

    assert client.get(reverse("staff_invitations")).status_code == 200


def test_publishing_terms_needs_an_access_manager(tester, reviewer):
    for person in (tester, reviewer):
        with pytest.raises(PermissionDenied):
            terms_publish(title="Mine", body="My rules.", by=person)


def test_publishing_numbers_versions_in_order(admin):
    versions = [terms_publish(title="T", body=f"b{i}", by=admin).version for i in range(3)]

    assert versions == [1, 2, 3]
