"""MFA for staff, secrets encrypted at rest, the admin behind allauth, sessions and rate limits."""

from __future__ import annotations

import time

import pytest
from allauth.account import app_settings as account_settings
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from allauth.usersessions.models import UserSession
from cryptography.fernet import InvalidToken
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.urls import reverse

from access.services import sessions_end, token_create
from tests.conftest import PASSWORD, bearer, browser_signed_in, totp_enable

pytestmark = pytest.mark.django_db

MFA_SETUP = reverse("mfa_activate_totp")
LOGIN = reverse("account_login")


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _fresh_totp(user) -> str:
    """A TOTP authenticator whose secret this test knows (staff fixtures come with one)."""
    Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
    return totp_enable(user)


def _sign_in(client: Client, email: str, password: str = PASSWORD):
    """A real sign-in through allauth's form (what creates a tracked user session)."""
    return client.post(LOGIN, {"login": email, "password": password})


def _raw_row(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 (our table)
        return repr(cursor.fetchone())


def _is_signed_in(browser: Client) -> bool:
    return browser.get(reverse("tokens")).status_code == 200


# --- MFA for staff ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/review/",
        "/admin/",
        "/admin/access/auditentry/",
        "/staff/audit/",
        # Not under a staff prefix, yet staff see more there (everyone's findings, outputs).
        "/findings/",
        "/studio/",
        "/tokens/",
    ],
)
def test_staff_without_mfa_are_sent_to_set_it_up_first(client, staff_without_mfa, path):
    client.force_login(staff_without_mfa)

    response = client.get(path)

    assert response.status_code == 302
    assert response.url == f"{MFA_SETUP}?next={path}"


def test_the_api_refuses_staff_without_mfa_by_session_and_by_token(client, staff_without_mfa):
    token = token_create(user=staff_without_mfa, name="bot", scopes=["outputs:read"]).plaintext
    client.force_login(staff_without_mfa)

    by_session = client.get(reverse("api_review_queue"))
    client.logout()
    by_token = client.get(reverse("api_review_queue"), headers=bearer(token))

    for response in (by_session, by_token):
        assert response.status_code == 403
        assert response.json()["detail"] == "Staff accounts need two-factor authentication first."


def test_staff_with_mfa_reach_the_admin(client, reviewer):
    client.force_login(reviewer)

    assert client.get("/admin/").status_code == 200


def test_staff_without_mfa_can_still_reach_their_account_pages(client, staff_without_mfa):
    client.force_login(staff_without_mfa)

    assert client.get(reverse("account_email")).status_code == 200


def test_staff_enrol_totp_with_a_code_from_the_secret_and_then_pass(client, staff_without_mfa):
    _sign_in(client, staff_without_mfa.email)
    assert client.get("/admin/").url == f"{MFA_SETUP}?next=/admin/"

    # Just signed in: enrolment does not ask for the password again (issue #15).
    setup = client.get(MFA_SETUP)
    assert setup.status_code == 200
    secret = setup.context["form"].secret
    enrolled = client.post(MFA_SETUP, {"code": _code(secret)})

    assert enrolled.status_code == 302
    assert Authenticator.objects.filter(user=staff_without_mfa, type="totp").exists()
    assert client.get("/admin/").status_code == 200


def test_totp_secrets_are_stored_encrypted_and_still_validate(tester):
    secret = totp_enable(tester)

    authenticator = Authenticator.objects.get(user=tester, type=Authenticator.Type.TOTP)

    assert secret not in _raw_row("mfa_authenticator", authenticator.pk)
    assert authenticator.data["secret"] != secret
    assert get_mfa_adapter().decrypt(authenticator.data["secret"]) == secret
    assert TOTP(authenticator).validate_code(_code(secret))


def test_a_totp_code_is_accepted_only_once(tester):
    secret = totp_enable(tester)
    authenticator = Authenticator.objects.get(user=tester, type=Authenticator.Type.TOTP)

    assert TOTP(authenticator).validate_code(_code(secret))
    assert not TOTP(authenticator).validate_code(_code(secret))


def test_recovery_code_seeds_are_stored_encrypted_and_codes_still_validate(tester):
    codes = RecoveryCodes.activate(tester)
    authenticator = Authenticator.objects.get(user=tester, type=Authenticator.Type.RECOVERY_CODES)
    seed = get_mfa_adapter().decrypt(authenticator.data["seed"])

    assert seed not in _raw_row("mfa_authenticator", authenticator.pk)
    assert RecoveryCodes(authenticator).validate_code(codes.get_unused_codes()[0])


def test_a_different_key_cannot_read_the_secrets(tester, settings):
    totp_enable(tester)
    stored = Authenticator.objects.get(user=tester).data["secret"]
    settings.MFA_ENCRYPTION_KEY = "another deployment's key"

    with pytest.raises(InvalidToken):
        get_mfa_adapter().decrypt(stored)


# --- the admin signs in through allauth -------------------------------------------------------


def test_the_admin_login_page_redirects_to_allauths_login(client):
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next=%2Fadmin%2F"


def test_the_bare_admin_login_form_does_not_sign_anyone_in(client, admin):
    response = client.post(
        "/admin/login/", {"username": admin.username, "password": PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert "_auth_user_id" not in client.session


def test_a_staff_password_alone_does_not_finish_signing_in(client, admin):
    response = _sign_in(client, admin.email)

    assert response.status_code == 302 and response.url == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("who", "lands_on"),
    [("tester", "studio"), ("reviewer", "review_queue"), ("admin", "staff_testers")],
)
def test_signing_in_lands_on_each_roles_own_first_page(request, client, who, lands_on):
    user = request.getfixturevalue(who)
    if user.is_staff:
        secret = _fresh_totp(user)
        assert _sign_in(client, user.email).url == reverse("mfa_authenticate")
        response = client.post(reverse("mfa_authenticate"), {"code": _code(secret)})
    else:
        response = _sign_in(client, user.email)

    assert response.status_code == 302 and response.url == reverse(lands_on)


def test_a_next_address_still_wins_over_the_roles_first_page(client, reviewer):
    secret = _fresh_totp(reviewer)
    client.post(LOGIN + "?next=/studio/", {"login": reviewer.email, "password": PASSWORD})

    response = client.post(reverse("mfa_authenticate"), {"code": _code(secret)})

    assert response.status_code == 302 and response.url == "/studio/"


# --- sessions ---------------------------------------------------------------------------------


def test_ending_a_testers_sessions_deletes_them_and_signs_out_every_browser(
    admin, tester, other_tester
):
    browsers = [browser_signed_in(tester) for _ in range(2)]
    bystander = browser_signed_in(other_tester)
    keys = list(UserSession.objects.filter(user=tester).values_list("session_key", flat=True))
    assert len(keys) == 2

    ended = sessions_end(user=tester, by=admin)

    assert ended == 2
    assert not UserSession.objects.filter(user=tester).exists()
    assert not Session.objects.filter(session_key__in=keys).exists()
    assert [_is_signed_in(browser) for browser in browsers] == [False, False]
    assert _is_signed_in(bystander)


def test_staff_end_a_testers_sessions_from_the_testers_page(client, admin, tester):
    browser = browser_signed_in(tester)
    client.force_login(admin)

    response = client.post(
        reverse("staff_tester_action", args=[tester.pk, "end-sessions"]), follow=True
    )

    assert f"Ended 1 session of {tester.email}." in response.content.decode()
    assert not _is_signed_in(browser)


@pytest.mark.parametrize("role", ["other_tester", "reviewer"])
def test_only_the_user_or_an_access_manager_ends_sessions(request, tester, role):
    browser = browser_signed_in(tester)

    with pytest.raises(PermissionDenied):
        sessions_end(user=tester, by=request.getfixturevalue(role))

    assert _is_signed_in(browser)
    assert sessions_end(user=tester, by=tester) == 1


def test_the_sessions_page_lists_only_the_users_own_sessions_and_ends_the_others(
    tester, other_tester
):
    here, elsewhere = browser_signed_in(tester), browser_signed_in(tester)
    browser_signed_in(other_tester)

    page = here.get(reverse("usersessions_list"))

    assert page.status_code == 200
    assert [s.user for s in page.context["sessions"]] == [tester, tester]
    here.post(reverse("usersessions_list"))
    assert _is_signed_in(here) and not _is_signed_in(elsewhere)


# --- rate limits ------------------------------------------------------------------------------


def _per_ip_limit(action: str) -> int:
    """The per-IP amount in allauth's configured rate, e.g. "30/m/ip" -> 30."""
    rates = account_settings.RATE_LIMITS[action].split(",")
    return next(int(rate.split("/")[0]) for rate in rates if rate.endswith("/ip"))


def test_the_default_rate_limits_are_on():
    limits = account_settings.RATE_LIMITS

    assert limits["login"] == "30/m/ip"
    assert limits["login_failed"] == "10/m/ip,5/300s/key"
    assert limits["signup"] == "20/m/ip" and limits["reset_password"] == "20/m/ip,5/m/key"


def test_a_burst_of_sign_in_attempts_from_one_address_gets_429(client):
    allowed = _per_ip_limit("login")

    statuses = [
        client.post(LOGIN, {"login": f"guess{i}@example.com", "password": "x"}).status_code
        for i in range(allowed + 1)
    ]

    assert set(statuses[:allowed]) == {200}
    assert statuses[allowed] == 429


def test_after_five_failures_the_right_password_is_refused_too(client, tester):
    for _ in range(5):
        _sign_in(client, tester.email, password="wrong-password")

    response = _sign_in(client, tester.email)

    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_client_address_comes_from_the_trusted_proxy_header(client, tester, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1

    client.post(
        LOGIN,
        {"login": tester.email, "password": PASSWORD},
        headers={"x-forwarded-for": "203.0.113.7"},
    )

    assert UserSession.objects.get(user=tester).ip == "203.0.113.7"


def test_without_a_trusted_proxy_a_forwarded_header_is_ignored(client, tester):
    client.post(
        LOGIN,
        {"login": tester.email, "password": PASSWORD},
        headers={"x-forwarded-for": "203.0.113.7"},
    )

    assert UserSession.objects.get(user=tester).ip == "127.0.0.1"
