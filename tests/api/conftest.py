"""Fixtures for the API tests: tokens by scope and JSON calls; each persona as an API client with
a Bearer token, and the world their requests meet (an approved and a pending output of the owner,
a share link, a finding)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from access.models import User
from access.services import token_create, token_scopes_for
from containment.services import tester_revoke
from generation.models import Job
from review.models import Finding, Output, ShareLink
from review.services import feedback_submit, finding_file, share_link_create
from tests.conftest import bearer
from tests.factories import make_job, make_output

JOB = {"model": "demo", "prompt": "a heron at dawn"}


@pytest.fixture
def token_for(db) -> Callable[..., dict[str, str]]:
    """Headers with a fresh personal token of `user`, holding `scopes`."""

    def issue(user, *scopes: str) -> dict[str, str]:
        plaintext = token_create(user=user, name="client", scopes=scopes or ["jobs:read"])
        return bearer(plaintext.plaintext)

    return issue


@pytest.fixture
def tester_headers(tester, token_for) -> dict[str, str]:
    return token_for(tester, "jobs:read", "jobs:write")


def post_json(client: Client, url: str, body: Any, **headers: str) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def token_client() -> Callable[..., Client]:
    """A test client that sends `user`'s new token (every scope they may hold, or `scopes`)."""

    def make(user: User, scopes: list[str] | None = None) -> Client:
        granted = sorted(token_scopes_for(user)) if scopes is None else scopes
        plaintext = token_create(user=user, name="api test", scopes=granted).plaintext
        return Client(headers={"authorization": f"Bearer {plaintext}"})

    return make


@dataclass
class World:
    job: Job  # the owner's
    output: Output  # the owner's, approved, not in the gallery
    pending: Output  # the owner's, awaiting review
    link: ShareLink  # to the owner's approved output
    finding: Finding  # the reviewer's, on the owner's approved output


@pytest.fixture
def world(tester, reviewer, outputs_dir) -> World:
    output = make_output(tester, state=Output.State.APPROVED)
    feedback_submit(output=output, by=tester, rating=4, notes="soft light")
    return World(
        job=make_job(tester),
        output=output,
        pending=make_output(tester),
        link=share_link_create(output=output, by=tester),
        finding=finding_file(
            output=output, by=reviewer, category="other", severity="low", description="odd hands"
        ),
    )


@pytest.fixture
def revoked_client(make_user, token_client) -> Client:
    """A tester revoked after making a token: the revocation revoked the token too."""
    user = make_user("rex@example.com")
    client = token_client(user)
    tester_revoke(tester=user, by=None, reason="leaked a video")
    return client
