"""The OpenAPI schema and its docs page: served, valid, complete for every operation."""

from __future__ import annotations

import json
import re

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

METHODS = {"get", "post", "put", "patch", "delete"}
PROBLEM = "application/problem+json"


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_the_schema_is_public_valid_openapi_3(schema):
    validate_schema(schema)

    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_schema_covers_the_existing_operations(schema):
    names = {name for name, _ in _operations(schema)}

    assert {
        "GET /api/v1/jobs/",
        "POST /api/v1/jobs/",
        "GET /api/v1/jobs/{job_id}/",
        "POST /api/v1/jobs/{job_id}/cancel/",
        "GET /api/v1/review/queue/",
        "POST /api/v1/traces/",
        "GET /api/v1/traces/{trace_id}/",
    } <= names


def test_every_operation_documents_success_examples_and_its_problems(schema):
    for name, operation in _operations(schema):
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert success, name
        for code in ("400", "401", "403", "429", "503"):
            assert PROBLEM in responses[code]["content"], f"{name} {code}"
            assert responses[code]["content"][PROBLEM]["examples"], f"{name} {code}"
        examples = [
            content.get("examples")
            for response in responses.values()
            for content in response.get("content", {}).values()
        ]
        assert any(examples), name
        if "requestBody" in operation:
            for content in operation["requestBody"]["content"].values():
                assert "$ref" in content["schema"] or content["schema"], name


def test_job_create_documents_quota_and_idempotency_problems(schema):
    create = schema["paths"]["/api/v1/jobs/"]["post"]

    quota = create["responses"]["429"]["content"][PROBLEM]["examples"]
    assert any(e["value"].get("quota") == "gpu_seconds_per_day" for e in quota.values())
    assert "422" in create["responses"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}


def test_the_docs_page_is_served_without_any_cdn(client):
    response = client.get("/api/v1/docs/")

    page = response.content.decode()
    assert response.status_code == 200 and "swagger" in page.lower()
    assert "/api/v1/schema/" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_the_schema_answers_tokens_of_any_scope(client, tester, token_for):
    response = client.get("/api/v1/schema/", headers=token_for(tester, "outputs:read"))

    assert response.status_code == 200


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/schema/"])
def test_a_wrong_method_on_the_docs_is_a_405_problem_whatever_it_accepts(client, url):
    response = client.post(
        url, "{}", content_type="application/json", headers={"accept": "application/json"}
    )

    assert response.status_code == 405 and response["Content-Type"].startswith(PROBLEM)


# Beyond jobs, the review queue and traces: models, budget, reruns, outputs and downloads, shares,
# feedback and findings, staff review and containment.
COVERAGE_OPERATIONS = {
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


def test_the_schema_covers_every_area_of_the_api(schema):
    found = {operation["operationId"] for _name, operation in _operations(schema)}

    assert found >= COVERAGE_OPERATIONS, sorted(COVERAGE_OPERATIONS - found)
