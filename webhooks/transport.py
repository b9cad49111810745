"""One HTTP POST of a delivery: to the checked address only, with a timeout, no redirects.

The standard library's `http.client` never follows a redirect (a 3xx is an answer like any other,
and counts as a failure), and connecting through `_create_connection` to the address that
`targets.target_resolve` checked means the name is not resolved a second time between the check
and the connection. HTTPS still verifies the certificate against the host name (SNI included).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from webhooks.targets import Target

SNIPPET_BYTES = 500
USER_AGENT = "Vernissage-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    snippet: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST once; `timeout` bounds the whole attempt (connect, send, answer), not each read."""
    started = time.monotonic()
    connection = _connection(target, timeout)
    deadline = _Deadline(connection, timeout)
    try:
        connection.request(
            "POST", target.path, body=body, headers={**headers, "user-agent": USER_AGENT}
        )
        response = connection.getresponse()
        snippet = response.read(SNIPPET_BYTES).decode("utf-8", errors="replace")
        error = "" if response.status < 300 or response.status >= 400 else _redirect(response)
        return Answer(response.status, snippet, error, _since(started))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        error = f"No answer within {timeout:g} s." if deadline.passed else _describe(exc, timeout)
        return Answer(None, "", error, _since(started))
    finally:
        deadline.cancel()
        connection.close()


class _Deadline:
    """http.client's timeout bounds each socket operation only: a server dripping its answer a
    byte at a time could hold an attempt (and the worker) for ever. At the deadline the socket
    is shut down, which ends the read in progress."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.connection, self.passed = connection, False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.passed = True
        if self.connection.sock is not None:
            with contextlib.suppress(OSError):
                self.connection.sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def pinned(address, timeout=None, source_address=None):
        return socket.create_connection((target.address, address[1]), timeout, source_address)

    connection._create_connection = pinned  # type: ignore[attr-defined]
    return connection


def _redirect(response: http.client.HTTPResponse) -> str:
    return f"Redirect to {response.getheader('location', '?')[:200]} not followed."


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"No answer within {timeout:g} s."
    return f"{type(exc).__name__}: {exc}"[:500]


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
