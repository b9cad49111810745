"""The invitation's landing page (in the spirit of TestFlight) and links built from the address
the site is served on."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from access.models import Cohort
from access.selectors import SESSION_INVITATION_KEY
from access.services import invitation_create, terms_publish

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

SERVED_AT = "http://alpha.test:8123"
LINK = re.compile(r"(https?://[^/\s]+)/invite/([\w-]+)/")


def _open(client, code: str):
    return client.get(reverse("invitation_open", kwargs={"code": code}))


def test_the_landing_page_says_who_invites_to_what_what_to_test_and_the_terms(
    client, admin, cohort
):
    admin.display_name = "Alan of Vernissage"
    admin.save(update_fields=["display_name"])
    terms_publish(title="Alpha terms", body="Keep it to yourself.\n\nMore detail here.", by=None)
    issued = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)

    page = _open(client, issued.code)
    html = page.content.decode()

    assert page.status_code == 200
    assert "Alan of Vernissage invites you to test Vernissage" in html
    assert cohort.name in html and "artist cohort" in html
    assert "ada@example.com" in html
    assert "Make short videos from your own prompts" in html
    assert re.search(r'data-testid="invitation-terms">Keep it to yourself.</p>', html)
    assert "Read the full terms" in html
    assert html.count('data-testid="invitation-accept"') == 1  # one call to action
    assert f'href="{reverse("account_signup")}" data-testid="invitation-accept"' in html
    assert client.session[SESSION_INVITATION_KEY] == issued.code


def test_a_red_team_invitation_asks_for_findings(client, red_team_cohort):
    issued = invitation_create(email="eve@example.com", invited_by=None, cohort=red_team_cohort)

    html = _open(client, issued.code).content.decode()

    assert "The Vernissage team invites you" in html
    assert "red team cohort" in html and "finding" in html


def test_without_published_terms_the_page_says_they_come_before_the_first_video(client, cohort):
    issued = invitation_create(email="ada@example.com", invited_by=None, cohort=cohort)

    html = _open(client, issued.code).content.decode()

    assert "terms are not published yet" in html


def test_the_call_to_action_leads_to_signup_with_the_invited_email(client, cohort):
    issued = invitation_create(email="ada@example.com", invited_by=None, cohort=cohort)
    _open(client, issued.code)

    signup = client.get(reverse("account_signup"))

    assert signup.status_code == 200
    assert signup.context["form"]["email"].value() == "ada@example.com"


def test_the_invitation_email_links_to_the_address_the_site_is_served_on(
    settings, mailoutbox, cohort, admin, client, django_capture_on_commit_callbacks
):
    settings.SITE_URL = SERVED_AT
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)

    origin, code = LINK.search(mailoutbox[-1].body).groups()

    assert origin == SERVED_AT
    assert _open(client, code).status_code == 200


def test_the_staff_message_after_a_resend_links_to_the_served_address(
    settings, client, admin, cohort, django_capture_on_commit_callbacks
):
    settings.SITE_URL = SERVED_AT
    issued = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)
    client.force_login(admin)

    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            reverse(
                "staff_invitation_action",
                kwargs={"invitation_id": issued.invitation.pk, "action": "resend"},
            ),
            follow=True,
        )

    links = LINK.findall(page.content.decode())
    assert links and all(origin == SERVED_AT for origin, _ in links)
    assert Cohort.objects.count() >= 1
