"""Joining only by invitation: the link, the locked email, and every way it can be refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import Invitation, User
from access.selectors import SESSION_INVITATION_KEY
from access.services import AccessError, invitation_create
from tests.access.conftest import SIGNUP_PASSWORD

pytestmark = pytest.mark.django_db


def _signup(client, email: str = "intruder@example.com", name: str = "Ada"):
    return client.post(
        reverse("account_signup"),
        {
            "email": email,
            "password1": SIGNUP_PASSWORD,
            "password2": SIGNUP_PASSWORD,
            "display_name": name,
        },
    )


def _open(client, code: str):
    return client.get(reverse("invitation_open", kwargs={"code": code}))


def test_invitation_link_leads_to_signup_with_the_invited_email_locked(client):
    issued = invitation_create(email="Ada@Example.com", invited_by=None)

    response = _open(client, issued.code)
    assert response.status_code == 200  # the landing page, whose one link leads to signup
    page = client.get(reverse("account_signup"))

    email_field = page.context["form"].fields["email"]
    assert email_field.disabled
    assert page.context["form"]["email"].value() == "ada@example.com"


def test_signup_creates_the_invited_account_whatever_email_is_posted(client):
    issued = invitation_create(email="ada@example.com", invited_by=None)
    _open(client, issued.code)

    response = _signup(client, email="someone-else@example.com")

    assert response.status_code == 302 and response.url == reverse("studio")
    user = User.objects.get()
    assert user.email == "ada@example.com" and user.display_name == "Ada"
    issued.invitation.refresh_from_db()
    assert issued.invitation.state == Invitation.State.ACCEPTED
    assert issued.invitation.accepted_by == user
    assert SESSION_INVITATION_KEY not in client.session


def test_signup_without_an_invitation_is_closed(client):
    page = client.get(reverse("account_signup"))
    response = _signup(client)

    assert "invite-only" in page.content.decode()
    assert "invite-only" in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("make_unusable", "status", "message"),
    [
        (lambda inv: setattr(inv, "state", Invitation.State.ACCEPTED), 410, "already been used"),
        (lambda inv: setattr(inv, "state", Invitation.State.REVOKED), 410, "withdrawn"),
        (
            lambda inv: setattr(inv, "expires_at", timezone.now() - timedelta(minutes=1)),
            410,
            "expired",
        ),
    ],
    ids=["used", "revoked", "expired"],
)
def test_an_unusable_invitation_gets_a_clear_page_and_no_signup(
    client, make_unusable, status, message
):
    issued = invitation_create(email="ada@example.com", invited_by=None)
    make_unusable(issued.invitation)
    issued.invitation.save()

    response = _open(client, issued.code)

    assert response.status_code == status
    assert message in response.content.decode()
    assert SESSION_INVITATION_KEY not in client.session
    _signup(client)
    assert not User.objects.exists()


def test_an_unknown_code_is_not_found(client):
    response = _open(client, "not-a-real-code")

    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_an_invitation_expiring_between_opening_and_signup_is_refused(client):
    issued = invitation_create(email="ada@example.com", invited_by=None)
    _open(client, issued.code)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    _signup(client)

    assert not User.objects.exists()


def test_an_invitation_is_used_only_once(client):
    issued = invitation_create(email="ada@example.com", invited_by=None)
    _open(client, issued.code)
    _signup(client)
    client.logout()

    second = _open(client, issued.code)

    assert second.status_code == 410
    assert User.objects.count() == 1


def test_the_invitation_code_is_not_stored(client):
    issued = invitation_create(email="ada@example.com", invited_by=None)

    stored = Invitation.objects.values_list("code_digest", flat=True).get()

    assert issued.code not in stored and len(issued.code) >= 43


@pytest.mark.parametrize("email", ["not-an-email", "", "a@b"])
def test_inviting_a_malformed_address_names_the_problem(email):
    with pytest.raises(AccessError, match="not a valid email"):
        invitation_create(email=email, invited_by=None)


def test_inviting_an_existing_account_is_refused(make_user):
    make_user("ada@example.com")

    with pytest.raises(AccessError, match="already has an account"):
        invitation_create(email="ADA@example.com", invited_by=None)
