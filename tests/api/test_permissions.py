"""Who may call which API endpoint with a Bearer token: each persona x each endpoint.

The personas: the owner of the world's objects, another tester, a reviewer and an admin (staff
with TOTP, each token holding every scope they may hold), staff without two-factor
authentication, a token lacking the endpoint's scope (of the persona who may call it), a tester
revoked after making a token, and nobody. A refused request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEntry, Cohort, Program, User
from access.services import token_scopes_for
from generation.models import Job
from review.models import Feedback, Finding, Output, ShareLink

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_pass]

PERSONAS = ("owner", "other", "reviewer", "admin")


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    scope: str
    expected: tuple[int, int, int, int]  # owner, other, reviewer, admin
    body: dict[str, Any] | None = None
    target: str = ""  # which object of the world the URL names

    def url(self, world, people: dict[str, User]) -> str:
        kwargs = {
            "": {},
            "job": {"job_id": world.job.id},
            "output": {"output_id": world.output.id},
            "pending": {"output_id": world.pending.id},
            "link": {"link_id": world.link.pk},
            "finding": {"finding_id": world.finding.pk},
            "tester": {"user_id": people["other"].pk},
            "cohort": {"cohort_id": people["owner"].cohort_id},
        }[self.target]
        return reverse(self.name, kwargs=kwargs)


CALLS = [
    Call("api_models", "get", "jobs:read", (200, 200, 200, 200)),
    Call("api_budget", "get", "jobs:read", (200, 200, 200, 200)),
    Call("api_job_rerun", "post", "jobs:write", (201, 404, 403, 404), {}, "job"),
    Call("api_outputs", "get", "outputs:read", (200, 200, 200, 200)),
    Call("api_output", "get", "outputs:read", (200, 404, 200, 404), target="output"),
    Call("api_output_content", "get", "outputs:read", (302, 404, 302, 404), target="output"),
    Call("api_output_poster", "get", "outputs:read", (302, 404, 302, 404), target="output"),
    Call(
        "api_output_shares",
        "post",
        "outputs:write",
        (201, 404, 403, 404),
        {"expires_in_days": 7},
        "output",
    ),
    Call("api_shares", "get", "outputs:read", (200, 200, 200, 200)),
    Call("api_share_revoke", "post", "outputs:write", (200, 404, 200, 404), {}, "link"),
    Call("api_output_feedback", "get", "outputs:read", (200, 404, 404, 404), target="output"),
    Call(
        "api_output_feedback",
        "post",
        "outputs:write",
        (200, 404, 403, 404),
        {"rating": 5},
        "output",
    ),
    Call(
        "api_output_findings",
        "post",
        "outputs:write",
        (403, 404, 201, 404),  # red-teamers and staff file findings
        {"category": "other", "severity": "low", "description": "a flicker"},
        "output",
    ),
    Call("api_findings", "get", "outputs:read", (200, 200, 200, 200)),
    Call("api_finding", "get", "outputs:read", (404, 404, 200, 404), target="finding"),
    Call(
        "api_finding_move",
        "post",
        "review:write",
        (403, 403, 200, 403),
        {"to": "triaged"},
        "finding",
    ),
    Call("api_review_claim", "post", "review:write", (403, 403, 200, 403), {}, "pending"),
    Call(
        "api_review_decision",
        "post",
        "review:write",
        (403, 403, 200, 403),
        {"decision": "approve"},
        "pending",
    ),
    Call(
        "api_review_bulk",
        "post",
        "review:write",
        (403, 403, 200, 403),
        {"output_ids": ["<pending>"], "decision": "approve"},
    ),
    Call(
        "api_contain_tester",
        "post",
        "access:admin",
        (403, 403, 403, 200),
        {"action": "suspend", "reason": "a leak"},
        "tester",
    ),
    Call(
        "api_contain_cohort",
        "post",
        "access:admin",
        (403, 403, 403, 200),
        {"action": "suspend", "reason": "a leak"},
        "cohort",
    ),
    Call(
        "api_contain_program",
        "post",
        "access:admin",
        (403, 403, 403, 200),
        {"action": "pause", "reason": "a leak"},
    ),
]


@pytest.fixture
def people(tester, other_tester, reviewer, admin) -> dict[str, User]:
    return {"owner": tester, "other": other_tester, "reviewer": reviewer, "admin": admin}


def _body(call: Call, world) -> dict[str, Any] | None:
    if call.body is None:
        return None
    ids = call.body.get("output_ids")
    return {**call.body, "output_ids": [str(world.pending.id)]} if ids else call.body


def _send(client: Client, call: Call, world, people):
    url = call.url(world, people)
    if call.method == "get":
        return client.get(url)
    return client.post(url, _body(call, world), content_type="application/json")


def _state() -> tuple:
    """Everything these endpoints could change, but a refused request must not."""
    return (
        AuditEntry.objects.count(),
        sorted(Job.objects.values_list("id", "state")),
        sorted(Output.objects.values_list("id", "state", "claimed_by")),
        sorted(ShareLink.objects.values_list("id", "revoked_at")),
        sorted(Feedback.objects.values_list("id", "rating")),
        sorted(Finding.objects.values_list("id", "state")),
        sorted(User.objects.values_list("id", "standing")),
        sorted(Cohort.objects.values_list("id", "suspended_at")),
        Program.is_paused(),
    )


def _expect(call: Call, persona: str) -> int:
    return call.expected[PERSONAS.index(persona)]


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.name}")
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_gets_what_its_role_allows(world, people, token_client, call, persona):
    client = token_client(people[persona])
    before = _state()

    response = _send(client, call, world, people)

    assert response.status_code == _expect(call, persona), response.content[:300]
    if response.status_code >= 400 or call.method == "get":
        assert _state() == before


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.name}")
def test_a_token_lacking_the_scope_is_refused(world, people, token_client, call):
    # The persona who may make this call, with every scope they may hold but this one.
    persona = next(p for p in PERSONAS if _expect(call, p) < 400)
    user = people[persona]
    client = token_client(user, sorted(token_scopes_for(user) - {call.scope}))
    before = _state()

    response = _send(client, call, world, people)

    assert response.status_code == 403
    assert call.scope in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.name}")
def test_staff_without_two_factor_authentication_are_refused(
    world, people, token_client, staff_without_mfa, call
):
    client = token_client(staff_without_mfa)
    before = _state()

    response = _send(client, call, world, people)

    assert response.status_code == 403
    assert "two-factor" in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.name}")
def test_a_revoked_testers_token_and_no_token_are_unauthenticated(
    world, people, revoked_client, call
):
    before = _state()

    for client in (revoked_client, Client()):
        response = _send(client, call, world, people)

        assert response.status_code == 401, response.content[:300]
    assert _state() == before
