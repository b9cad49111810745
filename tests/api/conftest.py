"""Fixtures for the API's conventions: tokens by scope, JSON calls."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from access.services import token_create
from tests.conftest import bearer

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
