"""allauth's pages in the site's layout; sessions in words; recovery codes end with Continue; a
fresh sign-in is not asked for the password again; a wrong second factor keeps `next`."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest
from allauth.account import app_settings as account_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.test import Client
from django.urls import reverse

from tests.access.test_devices import CHROME_MAC
from tests.conftest import PASSWORD, browser_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

LOGIN = reverse("account_login")
GENERATE_CODES = reverse("mfa_generate_recovery_codes")
SIGNED_IN_PAGES = [
    "account_email",
    "account_change_password",
    "usersessions_list",
    "mfa_index",
    "mfa_view_recovery_codes",
]


@pytest.fixture
def reviewer(reviewer):
    """The reviewer, with recovery codes beside the authenticator app (as after setting it up)."""
    RecoveryCodes.activate(reviewer)
    return reviewer


def _in_site_layout(html: str) -> bool:
    return 'class="topbar"' in html and 'data-testid="account-page"' in html


def _totp_code(user) -> str:
    secret = decrypt(Authenticator.objects.get(user=user, type="totp").data["secret"])
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _reviewer_after_password(next_path: str = "/review/") -> Client:
    browser = Client()
    response = browser.post(
        f"{LOGIN}?next={next_path}", {"login": "rita@vernissage.local", "password": PASSWORD}
    )
    assert response.url == reverse("mfa_authenticate")
    return browser


def test_the_sign_in_page_uses_the_site_layout(client):
    html = client.get(LOGIN).content.decode()

    assert _in_site_layout(html)
    assert "Vernissage" in html and 'name="login"' in html


def test_the_second_factor_page_uses_the_site_layout(reviewer):
    page = _reviewer_after_password().get(reverse("mfa_authenticate"))

    assert page.status_code == 200 and _in_site_layout(page.content.decode())


@pytest.mark.parametrize("name", SIGNED_IN_PAGES)
def test_the_account_settings_pages_use_the_site_layout_with_their_tab_marked(reviewer, name):
    browser = _reviewer_after_password()
    browser.post(reverse("mfa_authenticate"), {"code": _totp_code(reviewer)})

    html = browser.get(reverse(name)).content.decode()

    assert _in_site_layout(html)
    # One tab of the settings marked (the site's menu marks its own "Security" link as well).
    tabs = html.split('<nav class="tabs" aria-label="Account settings">', 1)[1].split("</nav>")[0]
    current = re.findall(r'<a href="([^"]+)" aria-current="page"', tabs)
    assert len(current) == 1, current


def test_sessions_read_as_browser_and_system_not_a_raw_user_agent(tester):
    browser = Client(HTTP_USER_AGENT=CHROME_MAC)
    browser.post(LOGIN, {"login": tester.email, "password": PASSWORD})

    html = browser.get(reverse("usersessions_list")).content.decode()

    assert ">Chrome on macOS</td>" in html
    assert "AppleWebKit/537.36 (KHTML" not in html.split('title="')[0]  # only in the tooltip
    assert "This browser" in html


def test_ending_the_other_sessions_says_how_many(tester):
    here = browser_signed_in(tester)
    browser_signed_in(tester)
    browser_signed_in(tester)

    html = here.get(reverse("usersessions_list")).content.decode()

    assert "Sign out 2 other sessions" in html


def test_the_recovery_codes_page_ends_with_continue_to_the_users_first_page(reviewer):
    browser = _reviewer_after_password()
    browser.post(reverse("mfa_authenticate"), {"code": _totp_code(reviewer)})

    html = browser.get(reverse("mfa_view_recovery_codes")).content.decode()
    with_next = browser.get(reverse("mfa_view_recovery_codes") + "?next=/findings/").content

    continue_link = re.search(r'<a class="btn" href="([^"]+)">Continue</a>', html)
    assert continue_link and continue_link[1] == reverse("review_queue")
    assert html.rstrip().rfind("Continue") > html.rfind("Generate new codes")
    assert b'href="/findings/">Continue</a>' in with_next


def test_a_fresh_sign_in_is_not_asked_for_the_password_again(tester):
    browser = browser_signed_in(tester)

    response = browser.get(GENERATE_CODES)

    assert response.status_code == 200


def test_after_the_reauthentication_timeout_the_password_is_asked_again(tester):
    browser = browser_signed_in(tester)
    later = time.time() + account_settings.REAUTHENTICATION_TIMEOUT + 1

    with mock.patch("access.adapters.time.time", return_value=later):
        response = browser.get(GENERATE_CODES)

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_reauthenticate"))


def test_a_wrong_second_factor_keeps_where_the_person_was_going(reviewer):
    browser = _reviewer_after_password("/review/")

    wrong = browser.post(reverse("mfa_authenticate"), {"code": "000000"})
    right = browser.post(reverse("mfa_authenticate"), {"code": _totp_code(reviewer)})

    assert wrong.status_code == 200 and "Incorrect code" in wrong.content.decode()
    assert 'class="field-error"' in wrong.content.decode()
    assert right.status_code == 302 and right.url == "/review/"
