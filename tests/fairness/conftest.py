"""The people of the fairness tests: Ada (the artist), Bob (another tester), Rita (the reviewer
who decides), Otto (a second reviewer) and Alan (an admin, who asks to use artists' work)."""

from __future__ import annotations

import pytest

from access.models import User
from review.models import Output
from review.services import output_reject
from tests.factories import make_output


@pytest.fixture
def second_reviewer(make_user) -> User:
    return make_user("otto@vernissage.local", reviewer=True)


@pytest.fixture
def approved(tester, outputs_dir) -> Output:
    return make_output(tester, state=Output.State.APPROVED)


@pytest.fixture
def rejected_by_rita(tester, reviewer, outputs_dir) -> Output:
    """Ada's output, rejected by Rita through the review service."""
    return output_reject(
        output=make_output(tester), by=reviewer, reason="Violence or gore", note="too dark"
    )
