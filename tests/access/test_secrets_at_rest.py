"""No issued secret is readable in the database: every table (sessions decoded) is searched."""

from __future__ import annotations

import re
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import reverse

from access.services import invitation_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP_PASSWORD = "Tester-Secret-Pass-8214"


def _database_text() -> str:
    """Every row of every table as text, with session payloads decoded (they are only signed)."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            parts.append(repr(cursor.fetchall()))
    parts += [repr(session.get_decoded()) for session in Session.objects.all()]
    return "\n".join(parts)


def _tester_journey(cohort, admin, mailoutbox, capture) -> dict[str, str]:
    with capture(execute=True):
        invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)
    code = re.search(r"/invite/([\w-]+)/", mailoutbox[-1].body)[1]
    browser = Client()
    browser.get(reverse("invitation_open", args=[code]))
    browser.post(
        reverse("account_signup"),
        {"password1": SIGNUP_PASSWORD, "password2": SIGNUP_PASSWORD, "display_name": "Ada"},
    )
    created = browser.post(reverse("tokens"), {"name": "ci", "scopes": ["jobs:read"], "days": 30})
    token = created.context["issued"].plaintext
    return {
        "invitation code": code,
        "password": SIGNUP_PASSWORD,
        "token": token,
        "token secret": token.rsplit("_", 1)[1],
    }


def _staff_enrolment(staff) -> dict[str, str]:
    browser = Client()
    browser.post(reverse("account_login"), {"login": staff.email, "password": PASSWORD})
    browser.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    secret = browser.get(reverse("mfa_activate_totp")).context["form"].secret
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    browser.post(reverse("mfa_activate_totp"), {"code": code})
    recovery = RecoveryCodes(Authenticator.objects.get(user=staff, type="recovery_codes"))
    return {
        "TOTP secret": secret,
        "recovery code": recovery.get_unused_codes()[0],
        "staff password": PASSWORD,
    }


def test_no_plaintext_secret_is_stored_anywhere(
    cohort, admin, staff_without_mfa, mailoutbox, django_capture_on_commit_callbacks
):
    secrets = _tester_journey(cohort, admin, mailoutbox, django_capture_on_commit_callbacks)
    secrets |= _staff_enrolment(staff_without_mfa)
    assert Authenticator.objects.filter(user=staff_without_mfa).count() == 2  # the journey ran

    dump = _database_text()

    assert "ada@example.com" in dump  # the dump does contain the data
    found = [name for name, value in secrets.items() if value in dump]
    assert found == []
