"""A real HTTP receiver (http.server in a thread) that verifies Standard Webhooks signatures
with its own code, and fixtures that send deliveries through the task function in-process."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from config.celery import app as celery_app
from webhooks.services import DELIVER_TASK, endpoint_create
from webhooks.tasks import deliver

TOLERANCE_SECONDS = 300  # the Standard Webhooks reference libraries' default


def verify(secret: str, headers: dict[str, str], body: bytes) -> dict:
    """The receiver's side, written from the Standard Webhooks spec and not from our code: the
    key is the base64 after `whsec_`; the signed content `{id}.{timestamp}.{body}`; the header a
    space-separated list of `v1,<base64>`, any one of which may match; timestamps within five
    minutes. Returns the parsed body, or raises ValueError."""
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise ValueError("timestamp outside the tolerance")
    key = base64.b64decode(secret.split("_", 1)[1])
    content = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return json.loads(body)
    raise ValueError("no signature matches")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next scripted reply (an HTTP status; "hang": no answer for
    `hang_seconds`; "drip": a 200 sent a byte every 0.1 s); 200 once the script runs out."""

    url: str
    script: list[int | str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    hang_seconds: float = 2.0
    release: threading.Event = field(default_factory=threading.Event)

    def verified(self, secret: str) -> list[dict]:
        return [verify(secret, each.headers, each.body) for each in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.requests.append(Received(self.path, headers, body))
            reply = receiver.script.pop(0) if receiver.script else 200
            if reply == "hang":
                receiver.release.wait(receiver.hang_seconds)
                return
            if reply == "drip":  # an answer a byte at a time: each read is quick, the whole is not
                with contextlib.suppress(OSError):
                    for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        if receiver.release.wait(0.1):
                            return
                return
            if reply in (301, 302, 307):
                self.send_response(int(reply))
                self.send_header("location", "http://127.0.0.1:9/elsewhere")
                self.end_headers()
                return
            payload = b'{"received": true}' if reply == 200 else b"receiver says no"
            self.send_response(int(reply))
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    yield holder
    holder.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def loopback_allowed(settings) -> None:
    """The test receiver listens on 127.0.0.1: allow-list it (as an operator would a lab host),
    and make retries due at once and timeouts short."""
    settings.WEBHOOK_ALLOWED_CIDRS = ["127.0.0.0/8"]
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1.0
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5


@dataclass
class Sent:
    """Delivery messages captured on their way to the broker: (delivery id, attempt, countdown)."""

    committed: Callable[[], Any]
    messages: list[tuple[str, int, float]] = field(default_factory=list)

    def drain(self, limit: int = 20) -> list[str]:
        """Run each message through the task function, as the CPU worker would (retries
        included, whatever their countdown; each attempt's commit sends the next one); returns
        the outcomes."""
        outcomes = []
        while self.messages and len(outcomes) < limit:
            delivery_id, attempt, _ = self.messages.pop(0)
            with self.committed():
                outcomes.append(deliver(delivery_id, attempt))
        return outcomes


@pytest.fixture
def sent(monkeypatch, committed) -> Sent:
    captured = Sent(committed)

    def send_task(name: str, args: list, queue: str, countdown: float = 0.0, **kw) -> None:
        assert name == DELIVER_TASK and queue == "hooks"
        captured.messages.append((args[0], args[1], countdown))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return captured


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block's on-commit callbacks (the test's own transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def endpoint_for(loopback_allowed, receiver):
    """An endpoint of `owner` at the receiver, subscribed to `events` (all by default)."""

    def make(owner, events=None, **fields):
        from webhooks.models import EventType

        return endpoint_create(
            owner=owner, url=receiver.url, events=events or EventType.values, **fields
        )

    return make
