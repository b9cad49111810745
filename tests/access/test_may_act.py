"""`User.may_act()`: the one answer to "may this user act now?" that every door asks."""

from __future__ import annotations

import pytest

from access.models import User
from tests.conftest import STANDINGS

pytestmark = pytest.mark.django_db

# each way access ends -> the standing the doors then show
STANDING_NOW = {
    "suspended": User.Standing.SUSPENDED,
    "revoked": User.Standing.REVOKED,
    "cohort suspended": User.Standing.SUSPENDED,
    "program paused": User.Standing.PAUSED,
    "expired": User.Standing.EXPIRED,
    "cohort not started": User.Standing.EXPIRED,
    "inactive account": User.Standing.ACTIVE,  # the standing is fine; the account is off
}


def _fresh(user: User) -> User:
    return User.objects.select_related("cohort").get(pk=user.pk)


def test_every_way_access_ends_has_a_standing_here():
    assert set(STANDING_NOW) == set(STANDINGS)


@pytest.mark.parametrize("role", ["tester", "red_teamer"])
def test_an_active_tester_in_an_open_cohort_may_act(request, role):
    user = _fresh(request.getfixturevalue(role))

    assert user.may_act() is True
    assert user.standing_now == User.Standing.ACTIVE


@pytest.mark.parametrize("standing", STANDINGS)
def test_a_tester_whose_access_ended_may_not_act(tester, standing):
    STANDINGS[standing](tester)

    user = _fresh(tester)

    assert user.may_act() is False
    assert user.standing_now == STANDING_NOW[standing]


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_staff_may_act_during_a_program_pause(request, role):
    staff = request.getfixturevalue(role)

    STANDINGS["program paused"](staff)

    assert _fresh(staff).may_act() is True
    assert _fresh(staff).standing_now == User.Standing.ACTIVE


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_an_inactive_staff_account_may_not_act(request, role):
    staff = request.getfixturevalue(role)

    STANDINGS["inactive account"](staff)

    assert _fresh(staff).may_act() is False
