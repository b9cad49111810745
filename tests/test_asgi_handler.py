"""config.asgi_handler: an HTTP request crosses from the event loop to a sync thread once, and
runs every middleware and the view there, with the answers Django's own handler gives."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import AsyncToSync
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler

from access.services import token_create
from config.asgi_handler import OneHopASGIHandler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _get(app, path: str, token: str = "") -> dict:
    headers = [(b"host", b"127.0.0.1")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return asyncio.run(HttpCommunicator(app, "GET", path, headers=headers).get_response(timeout=10))


@pytest.fixture
def hops(monkeypatch):
    """Each time a sync thread handed work back to the event loop, and the threads the view and
    the outermost middleware ran in."""
    seen = {"async_to_sync": 0, "threads": set()}
    original = AsyncToSync.__call__

    def counting(self, *args, **kwargs):
        seen["async_to_sync"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncToSync, "__call__", counting)
    from access.middleware import RequestIdMiddleware
    from generation.api.views import JobListView

    for cls, name in ((RequestIdMiddleware, "__call__"), (JobListView, "get")):
        method = getattr(cls, name)

        def recording(self, *args, _method=method, **kwargs):
            seen["threads"].add(threading.get_ident())
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, recording)
    return seen


@pytest.mark.parametrize(("handler", "crossings"), [(OneHopASGIHandler, 0), (ASGIHandler, 1)])
def test_the_view_runs_in_the_middlewares_thread_without_going_back_to_the_loop(
    tester, hops, handler, crossings
):
    token = token_create(user=tester, name="t", scopes=["jobs:read"]).plaintext
    response = _get(handler(), "/api/v1/jobs/", token)
    assert response["status"] == 200
    assert hops["async_to_sync"] == crossings
    assert len(hops["threads"]) == 1


def test_answers_and_errors_are_those_of_djangos_handler(tester):
    token = token_create(user=tester, name="t", scopes=["jobs:read"]).plaintext
    for path, auth in (("/api/v1/jobs/", token), ("/api/v1/jobs/", ""), ("/no/such/page/", "")):
        ours, djangos = _get(OneHopASGIHandler(), path, auth), _get(ASGIHandler(), path, auth)
        assert ours["status"] == djangos["status"]
        assert dict(ours["headers"]).get(b"content-type") == dict(djangos["headers"]).get(
            b"content-type"
        )


def test_the_deployed_application_serves_http_with_it():
    from config.asgi import django_asgi_app

    assert isinstance(django_asgi_app, OneHopASGIHandler)
