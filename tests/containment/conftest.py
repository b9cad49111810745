"""The people of the containment tests: Ada (the tester contained in every scope), Bob (Ada's
cohort), Cy (another cohort), Rita (a reviewer, staff) and Alan (an admin, who acts)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from access.models import Cohort, User
from access.roles import TESTERS, role_grant
from tests.conftest import PASSWORD


@pytest.fixture
def outsider(db) -> User:
    """A tester in another cohort."""
    other = Cohort.objects.create(
        name="Other cohort", model_names=["demo"], ends_at=timezone.now() + timedelta(days=30)
    )
    user = User.objects.create_user(
        username="cy@example.com", email="cy@example.com", password=PASSWORD, cohort=other
    )
    role_grant(user=user, role=TESTERS)
    return user


@pytest.fixture
def people(tester, other_tester, outsider, reviewer, admin) -> dict[str, User]:
    return {"ada": tester, "bob": other_tester, "cy": outsider, "rita": reviewer, "alan": admin}
