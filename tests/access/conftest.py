"""Fixtures for the access tests: the roles of the issue, published terms, captured dispatches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from access.models import Cohort, TermsVersion, User
from access.roles import ADMINS, REVIEWERS, TESTERS, role_grant
from access.services import terms_publish
from tests.conftest import totp_enable

PASSWORD = "a-Strong-pass-42"  # make_user's default


@pytest.fixture
def admin(db) -> User:
    """Staff in the Admins group (manages access, reads the audit log), with TOTP set up."""
    user = User.objects.create_user(
        username="alan@vernissage.local", email="alan@vernissage.local", password=PASSWORD
    )
    role_grant(user=user, role=ADMINS)
    totp_enable(user)
    return user


@pytest.fixture
def staff_without_mfa(db) -> User:
    user = User.objects.create_user(
        username="nora@vernissage.local", email="nora@vernissage.local", password=PASSWORD
    )
    role_grant(user=user, role=REVIEWERS)
    return user


@pytest.fixture
def red_team_cohort(db) -> Cohort:
    return Cohort.objects.create(
        name="Red team",
        lane=Cohort.Lane.RED_TEAM,
        model_names=["demo"],
        ends_at=timezone.now() + timedelta(days=30),
    )


@pytest.fixture
def red_teamer(db, red_team_cohort) -> User:
    user = User.objects.create_user(
        username="eve@example.com", email="eve@example.com", password=PASSWORD
    )
    user.cohort = red_team_cohort
    user.save(update_fields=["cohort"])
    role_grant(user=user, role=TESTERS)
    return user


@pytest.fixture
def terms_v1(db) -> TermsVersion:
    return terms_publish(title="Alpha terms", body="Keep it to yourself.", by=None)
