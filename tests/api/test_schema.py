"""Every operation of these endpoints documents itself: a 2xx answer with its schema, its error
answers (401 and 403 at least, each with an example) and an example of success."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict[str, Any]):
    """(path, method, operation) of every operation of these endpoints."""
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post") and operation["operationId"] in OUR_OPERATIONS:
                yield path, method, operation


OUR_OPERATIONS = {
    "models_list",
    "budget_retrieve",
    "jobs_rerun",
    "outputs_list",
    "outputs_retrieve",
    "outputs_content",
    "outputs_poster",
    "downloads_retrieve",
    "outputs_shares_create",
    "shares_list",
    "shares_revoke",
    "outputs_feedback_retrieve",
    "outputs_feedback_create",
    "outputs_findings_create",
    "findings_list",
    "findings_retrieve",
    "findings_move",
    "review_claim",
    "review_decide",
    "review_bulk_decide",
    "containment_tester",
    "containment_cohort",
    "containment_program",
}


def test_every_operation_is_in_the_schema(schema):
    found = {operation["operationId"] for _path, _method, operation in _operations(schema)}

    assert found == OUR_OPERATIONS


def test_every_operation_has_its_error_answers_with_examples(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        errors = {code for code in responses if code.startswith("4")}
        wanted = (
            {"403", "404", "410"}
            if operation["operationId"] == "downloads_retrieve"
            else {"401", "403"}
        )
        assert wanted <= errors, (path, method, sorted(responses))
        for code in errors:
            content = responses[code]["content"]["application/json"]
            assert content.get("examples") or operation["operationId"] == "downloads_retrieve", (
                path,
                method,
                code,
            )


def test_every_operation_has_a_success_answer_and_an_example(schema):
    for path, method, operation in _operations(schema):
        successes = [code for code in operation["responses"] if code[0] in "23"]
        assert successes, (path, method)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        answers = [operation["responses"][code].get("content", {}) for code in successes]
        has_example = bool(body.get("examples")) or any(
            media.get("examples") for answer in answers for media in answer.values()
        )
        plain = operation["operationId"] in (
            "outputs_content",
            "outputs_poster",
            "downloads_retrieve",
        )
        assert has_example or plain, (path, method)
