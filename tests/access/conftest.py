"""Fixtures for the access tests: published terms, a superuser."""

from __future__ import annotations

import pytest

from access.models import TermsVersion, User
from access.services import terms_publish
from tests.conftest import totp_enable

SIGNUP_PASSWORD = "Correct-Horse-Battery-9"  # what an invited person chooses when signing up


@pytest.fixture
def terms_v1(db) -> TermsVersion:
    return terms_publish(title="Alpha terms", body="Keep it to yourself.", by=None)


@pytest.fixture
def superuser(db) -> User:
    """A superuser with TOTP set up (the only account that changes staff accounts and roles)."""
    user = User.objects.create_superuser(
        username="root@vernissage.local", email="root@vernissage.local", password="x"
    )
    totp_enable(user)
    return user
