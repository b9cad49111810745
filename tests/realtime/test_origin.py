"""Only this site's own origin (scheme, host and port) may open a websocket."""

from __future__ import annotations

import pytest

from realtime.origin import origin_allowed, parse_origin
from tests.conftest import run_async, socket_outcome


def _scope(origin: str, host: str | None = None, scheme: str = "ws") -> dict:
    headers = [(b"origin", origin.encode())]
    if host is not None:
        headers.append((b"host", host.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://127.0.0.1:8000", None, "ws", True),  # the site URL (CSRF_TRUSTED_ORIGINS)
        ("http://127.0.0.1:9999", None, "ws", False),  # same host, another port
        ("http://127.0.0.1:9999", "127.0.0.1:9999", "ws", True),  # the origin it was opened at
        ("http://127.0.0.1:9999", "127.0.0.1:9998", "ws", False),
        ("https://127.0.0.1:9999", "127.0.0.1:9999", "ws", False),  # scheme differs
        ("https://127.0.0.1:9999", "127.0.0.1:9999", "wss", True),
        ("http://[::1]:5000", "[::1]:5000", "ws", True),
        ("http://evil.example", "evil.example", "ws", False),  # not an allowed host
        ("null", None, "ws", False),
        ("", "127.0.0.1:8000", "ws", False),  # no Origin at all
    ],
)
def test_an_origin_is_compared_by_scheme_host_and_port(origin, host, scheme, allowed):
    assert origin_allowed(_scope(origin, host, scheme)) is allowed


def test_a_malformed_origin_is_not_an_origin():
    assert parse_origin("http://127.0.0.1:notaport") is None
    assert parse_origin("ftp://127.0.0.1") is None
    assert parse_origin("https://example.org") == ("https", "example.org", 443)


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_a_page_on_another_port_cannot_open_a_socket(tester):
    connected, _code, messages = run_async(
        lambda: socket_outcome("/ws/studio/", tester, origin=b"http://127.0.0.1:9999")
    )

    assert connected is False and messages == []
