"""The people of the containment tests: Ada (the tester contained in every scope), Bob (Ada's
cohort), Cy (another cohort), Rita (a reviewer, staff) and Alan (an admin, who acts)."""

from __future__ import annotations

import pytest

from access.models import User


@pytest.fixture
def people(tester, other_tester, outsider, reviewer, admin) -> dict[str, User]:
    return {"ada": tester, "bob": other_tester, "cy": outsider, "rita": reviewer, "alan": admin}
