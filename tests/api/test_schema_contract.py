"""The API against its own schema (schemathesis): every operation, as every persona, with valid
and invalid input drawn from the live schema. No answer is a server error, and every answer (status,
content type, headers, body) is one the schema documents.

Personas: a tester's token with every tester scope, a reviewer's staff token (review:write and
outputs:read), an access manager's staff token (access:admin), a tester's token lacking most
scopes, and no credentials. Path ids are real ones (the personas' own objects) half the time, so
cases reach the views' logic and not only their 404s.

Containment runs last, on a throwaway tester and cohort (the outsider's): a case that contains
one of the personas (an id drawn at random, or pausing the program) cannot turn the operations
after it into 403s only. Deleting the webhook endpoint comes just before it, for the same reason.

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

from access.services import token_create, token_scopes_for
from review.models import Output
from review.services import finding_file, share_link_create
from tests.conftest import bearer
from tests.factories import make_job, make_output
from webhooks.models import Delivery, EventType
from webhooks.services import endpoint_create

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(240)]

CONTRACT_EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Run after every other operation, in this order: deleting the webhook endpoint would leave its
# rotate, deliveries and replay only 404s; containment may end a persona's access (the
# program's pause is the kill switch).
LAST = ["webhooks_destroy", "containment_tester", "containment_cohort", "containment_program"]


@pytest.fixture
def personas(tester, reviewer, admin) -> dict[str, dict[str, str]]:
    """Request headers of each kind of caller."""

    def token(user, scopes) -> dict[str, str]:
        return bearer(token_create(user=user, name="contract", scopes=scopes).plaintext)

    return {
        "tester": token(tester, token_scopes_for(tester)),
        "reviewer": token(reviewer, ["review:write", "outputs:read"]),
        "access admin": token(admin, ["access:admin"]),
        "tester lacking scopes": token(tester, ["outputs:read"]),
        "anonymous": {},
    }


@pytest.fixture
def known_ids(tester, reviewer, outsider, outputs_dir, settings) -> dict[str, str]:
    """Real ids for each path parameter: the tester's objects, and throwaway containment
    targets."""
    settings.WEBHOOK_ALLOWED_CIDRS = ["127.0.0.0/8"]
    output = make_output(tester, state=Output.State.APPROVED)
    endpoint = endpoint_create(
        owner=tester, url="http://127.0.0.1:9/hooks", events=EventType.values
    ).endpoint
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        message_id="msg_contract",
        event_type=EventType.JOB_FAILED,
        body="{}",
        state=Delivery.State.FAILED,
        attempts=1,
    )
    finding = finding_file(
        output=output, by=reviewer, category="other", severity="low", description="odd hands"
    )
    return {
        "job_id": str(make_job(tester).id),
        "output_id": str(make_output(tester).id),  # pending: claim and decide reach it
        "link_id": str(share_link_create(output=output, by=tester).id),
        "finding_id": str(finding.id),
        "endpoint_id": str(endpoint.id),
        "delivery_id": str(delivery.id),
        # The outsider and their cohort: no persona is either.
        "user_id": str(outsider.id),
        "cohort_id": str(outsider.cohort_id),
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


def _operations(schema: Any) -> list[Any]:
    """Every operation, LAST's at the end in its order."""
    operations = [result.ok() for result in schema.get_all_operations()]

    def rank(operation: Any) -> int:
        name = operation.definition.raw.get("operationId", "")
        return LAST.index(name) + 1 if name in LAST else 0

    return sorted(operations, key=rank)


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


def test_every_operation_answers_every_persona_as_its_schema_says(api_schema, personas, known_ids):
    operations = _operations(api_schema)
    names = [operation.definition.raw["operationId"] for operation in operations]
    assert len(operations) >= 38 and names[-len(LAST) :] == LAST

    for operation in operations:
        for headers in personas.values():
            _exercise(operation, headers, known_ids)
