"""The API against its own schema (schemathesis): every operation, as every persona, with valid
and invalid input drawn from the live schema. No answer is a server error, and every answer (status,
content type, headers, body) is one the schema documents.

Bounded: a few examples per operation and persona (CONTRACT_EXAMPLES), through Django's WSGI
handler in-process, inside the test's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from access.services import token_create
from tests.conftest import bearer
from tests.factories import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(240)]

CONTRACT_EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ALL_SCOPES = ["jobs:read", "jobs:write", "outputs:read"]


@pytest.fixture
def personas(tester, reviewer) -> dict[str, dict[str, str]]:
    """Request headers of each kind of caller."""

    def token(user, scopes: list[str]) -> dict[str, str]:
        return bearer(token_create(user=user, name="contract", scopes=scopes).plaintext)

    return {
        "tester": token(tester, ALL_SCOPES),
        "reviewer": token(reviewer, ALL_SCOPES),
        "tester lacking scopes": token(tester, ["outputs:read"]),
        "anonymous": {},
    }


@pytest.fixture
def wsgi_app(db) -> Iterator[Any]:
    """Django's WSGI handler, keeping the test's connection (and transaction) across requests:
    a request closes the connection as it starts and ends; Django's test client prevents that
    the same way."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield get_wsgi_application()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", wsgi_app)


def _operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def _exercise(operation: Any, headers: dict[str, str], known: dict[str, str]) -> None:
    """Draw cases of `operation` and check each answer; path ids are real ones half the time."""

    @settings(
        max_examples=CONTRACT_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        real_ids=st.booleans(),
    )
    def run(case: Any, real_ids: bool) -> None:
        if real_ids and case.path_parameters:
            case.path_parameters.update(
                {k: v for k, v in known.items() if k in case.path_parameters}
            )
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_every_operation_answers_every_persona_as_its_schema_says(api_schema, personas, tester):
    known = {"job_id": str(make_job(tester).id)}
    operations = list(_operations(api_schema))
    assert len(operations) >= 6  # jobs list/create/get/cancel, review queue, traces

    for operation in operations:
        for headers in personas.values():
            _exercise(operation, headers, known)
