"""Shared fixtures: the people of every test, the ways their access ends, websocket clients, and
real services, a real Celery worker and a real ASGI server as subprocesses.

Subprocesses use `config.test_settings` and the test database pytest-django created, so tests that
talk to them must use `django_db(transaction=True)`: the data has to be committed to be seen.
Fixtures used by one folder only live in that folder's conftest.py; none is copied between files.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import Cohort, Program, User
from access.roles import ADMINS, REVIEWERS, TESTERS, role_grant
from config.celery import app as celery_app

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "a-Strong-pass-42"  # every user the fixtures make signs in with it
# Waits for another process (a worker to start, a job to reach a step) are written for an idle
# machine; `make test` runs two xdist workers on two cores, beside whatever else the machine
# does. A ceiling costs nothing when things go well, so each is stretched this much.
WAIT_SCALE = 3
T = TypeVar("T")


# Tests that start processes (Celery workers, an ASGI server, Chromium, a private Redis) run on
# one pytest-xdist worker, one after another as without xdist; the rest share both workers
# (`make test` runs `-n 2 --dist loadgroup`). Two stacks at once would only fight for two cores.
STACK_FIXTURES = {"stack_env"}
STACK_FOLDERS = {"browser", "faults", "integration"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        if folder in STACK_FOLDERS or STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("stack"))
            if item.get_closest_marker("timeout") is None:  # room for WAIT_SCALE's ceilings
                item.add_marker(pytest.mark.timeout(600))


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_test_db() -> None:
    """The test Redis database starts empty: no stale Celery messages from an earlier run."""
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def _forget_rate_limits() -> None:
    """allauth and the API's throttles count requests in the real Redis cache: forget ours (and
    only ours) around a test.

    A scoped delete rather than `cache.clear()`, which would flush the whole Redis database
    (Celery messages of a worker another test started included).
    """
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    for pattern in (f"{prefix}*allauth*", f"{prefix}*throttle_*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    _forget_rate_limits()
    yield
    _forget_rate_limits()


def _forget_token_use() -> None:
    """Where each API token was used from lives in the real Redis cache, keyed by token id."""
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    for key in client.scan_iter(match=f"{prefix}:token-use:*", count=1000):
        client.delete(key)


@pytest.fixture(autouse=True)
def fresh_token_use() -> Iterator[None]:
    """Token ids repeat between tests (SQLite rolls its sequences back): forget their use."""
    _forget_token_use()
    yield
    _forget_token_use()


@pytest.fixture(scope="session")
def demo_model() -> Path:
    from generation.pipeline.demo import ensure_demo_model

    ensure_demo_model(settings.DEMO_MODEL_PATH)
    return settings.DEMO_MODEL_PATH


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    return (
        f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


@pytest.fixture(scope="session")
def stack_env(django_db_setup, django_db_blocker, demo_model) -> dict[str, str]:
    """Environment for processes that must share the test database and Redis with the tests."""
    with django_db_blocker.unblock():
        url = _database_url()
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": url,
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }


class ManagedProcess:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        self._handle = log.open("wb")
        self.process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self._handle, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout * WAIT_SCALE
        while time.monotonic() < deadline:
            if needle in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not print {needle!r}:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._handle.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def worker_command(queues: str, hostname: str) -> list[str]:
    """A Celery GPU worker as `make run` starts one: one pool child, one job at a time."""
    return [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--queues",
        queues,
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        "--hostname",
        hostname,
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
    ]


def server_command(port: int) -> list[str]:
    """The ASGI application (HTTP and websockets) served by uvicorn, as `make run` serves it."""
    return [
        str(BIN / "uvicorn"),
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ws",
        "websockets-sansio",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "2",
    ]


@contextmanager
def running_worker(
    queues: str, hostname: str, env: dict[str, str], log: Path
) -> Iterator[ManagedProcess]:
    """A real worker on `queues`, ready to take jobs; stopped on leaving the block."""
    worker = ManagedProcess(f"celery worker {hostname}", worker_command(queues, hostname), env, log)
    try:
        worker.wait_for_output(" ready.", timeout=60)
        yield worker
    finally:
        worker.stop()


@contextmanager
def running_server(env: dict[str, str], artifacts_dir: Path, name: str) -> Iterator[str]:
    """A real ASGI server on a free port; yields its base URL, stopped on leaving the block."""
    port = _free_port()
    server = ManagedProcess(name, server_command(port), env, artifacts_dir / f"{name}-{port}.log")
    try:
        server.wait_for_output("Application startup complete", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def celery_worker(stack_env, artifacts_dir) -> Iterator[ManagedProcess]:
    """A real Celery worker serving the demo model's queue, as `make run` starts it."""
    with running_worker(
        "gpu.demo", "test-gpu@%h", stack_env, artifacts_dir / f"celery-worker-{os.getpid()}.log"
    ) as worker:
        yield worker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def asgi_server(stack_env, artifacts_dir) -> Iterator[str]:
    """The real ASGI application (HTTP + websockets) served by uvicorn; yields its base URL."""
    with running_server(stack_env, artifacts_dir, "asgi-server") as url:
        yield url


@pytest.fixture
def dispatched(monkeypatch) -> list[tuple[list[str], str]]:
    """Messages meant for Celery, captured as (args, queue): transport, outside the rows that
    dispatch tests are about. Args are [job id, dispatch id], exactly what the worker receives."""
    sent: list[tuple[list[str], str]] = []

    def send_task(name: str, args: list[str], queue: str, **options: object) -> None:
        assert name == "generation.run_job"
        sent.append((args, queue))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    _dispatch_when_woken(monkeypatch)
    return sent


def _dispatch_when_woken(monkeypatch) -> None:
    """In-process stand-in for the dispatcher process: a wake-up (after a submission or a
    finished job) dispatches at once, as the dispatcher blocked on the wake key does. The wake
    key itself and the dispatcher's loop are tested in tests/generation/test_dispatcher_wake.py."""
    from generation.services import jobs_dispatch_woken

    def wake() -> None:
        jobs_dispatch_woken()

    for module in ("generation.services.submit", "generation.services.lifecycle"):
        monkeypatch.setattr(f"{module}.dispatcher_wake", wake)


@pytest.fixture
def running_dispatcher(transactional_db) -> Iterator[threading.Thread]:
    """The dispatcher's own loop (`manage.py dispatcher`), in a thread of the test process: it
    ticks, and dispatches the moment a submission or a worker's finished job wakes it."""
    from generation.management.commands.dispatcher import serve

    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(stop,), name="dispatcher", daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the dispatcher did not stop within 30 s"


@pytest.fixture
def inline_dispatcher(monkeypatch) -> None:
    """Submissions and finished jobs dispatch in-process, for tests without a dispatcher."""
    _dispatch_when_woken(monkeypatch)


@pytest.fixture
def cohort(db) -> Cohort:
    return Cohort.objects.create(
        name="Test cohort",
        model_names=["demo", "demo-slow"],
        max_concurrent_jobs=2,
        max_queued_jobs=10,
        gpu_seconds_per_day=3600,
        ends_at=timezone.now() + timedelta(days=30),
    )


@pytest.fixture
def make_user(db, cohort):
    """A tester in the test cohort, or (reviewer=True) a staff reviewer with TOTP set up."""

    def make(email: str, *, password: str = PASSWORD, reviewer: bool = False) -> User:
        user = User.objects.create_user(username=email, email=email, password=password)
        if reviewer:
            role_grant(user=user, role=REVIEWERS)
            totp_enable(user)
        else:
            user.cohort = cohort
            user.save(update_fields=["cohort"])
            role_grant(user=user, role=TESTERS)
        return user

    return make


# Channels' AllowedHostsOriginValidator: with DEBUG off (as under pytest-django) a socket must come
# from an origin in ALLOWED_HOSTS.
ORIGIN = b"http://127.0.0.1:8000"


@asynccontextmanager
async def websocket(path: str, user, *, origin: bytes = ORIGIN) -> AsyncIterator[Any]:
    """A websocket client of the real ASGI application, as `user` (not yet connected).

    The client always hangs up on leaving the block, refused or not: a consumer left running (its
    channel-layer receive pending) was what `asyncio.run` then hung on, cancelling it, for more
    than 20 minutes on a loaded machine.
    """
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=[(b"origin", origin)])
    communicator.scope["user"] = user
    try:
        yield communicator
    finally:
        await communicator.disconnect(timeout=5)


def run_async(body: Callable[[], Awaitable[T]]) -> T:
    """Run an async test body, then close the database connections the consumers' threads opened
    (left open, the test database could not be dropped at the end of the run)."""
    from channels.db import database_sync_to_async

    async def main() -> T:
        try:
            return await body()
        finally:
            await database_sync_to_async(connections.close_all)()

    return asyncio.run(main())


async def socket_outcome(path: str, user, *, origin: bytes = ORIGIN):
    """Open a websocket as `user`: (True, None, messages) once it is live (its snapshot came),
    or (False, close code, messages) when the server refused it, however it said so."""
    async with websocket(path, user, origin=origin) as communicator:
        return await _read_until_live_or_closed(communicator)


async def _read_until_live_or_closed(communicator) -> tuple[bool, int | None, list[dict]]:
    connected, code = await communicator.connect(timeout=5)
    messages: list[dict] = []
    while connected:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return False, output.get("code"), messages
        messages.append(json.loads(output["text"]))
        if messages[-1]["type"] == "snapshot":
            return True, None, messages
    return False, code, messages


def transitions_in_docstring(model: type) -> tuple[dict[str, set[str]], set[str]]:
    """The transitions and final states a stateful model's docstring lists, as state values.

    Reads lines like `QUEUED -> RUNNING | CANCELLED` (or `A | B -> C`: several sources),
    continuation lines `| QUEUED`, and
    `SUCCEEDED, FAILED and CANCELLED are final` (or `WITHDRAWN is final`), ignoring the
    explanations in parentheses.
    """
    text = re.sub(r"\([^)]*\)", "", model.__doc__.split("Transitions", 1)[1])
    names = {state.name: state.value for state in model.State}
    transitions: dict[str, set[str]] = {}
    sources: list[str] = []
    for line in text.splitlines():
        if final := re.match(r"\s*([A-Z_, ]+(?: and [A-Z_]+)?) (?:are|is) final", line):
            return transitions, {names[word] for word in re.findall(r"[A-Z_]+", final[1])}
        if arrow := re.match(r"\s*([A-Z_]+(?:\s*\|\s*[A-Z_]+)*)\s*->(.*)", line):
            sources = [names[word] for word in re.findall(r"[A-Z_]+", arrow[1])]
            targets = arrow[2]
        elif more := re.match(r"\s*\|(.*)", line):
            targets = more[1]
        else:
            continue
        for source in sources:
            transitions.setdefault(source, set()).update(
                names[word] for word in re.findall(r"[A-Z_]+", targets)
            )
    raise AssertionError(f"{model.__name__}'s docstring names no final states")


def totp_enable(user: User) -> str:
    """Give `user` a TOTP authenticator; returns its secret (for computing codes)."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


@pytest.fixture
def tester(make_user) -> User:
    return make_user("ada@example.com")


@pytest.fixture
def other_tester(make_user) -> User:
    return make_user("bob@example.com")


@pytest.fixture
def outsider(db) -> User:
    """A tester in another cohort."""
    other = Cohort.objects.create(
        name="Other cohort", model_names=["demo"], ends_at=timezone.now() + timedelta(days=30)
    )
    user = User.objects.create_user(
        username="cy@example.com", email="cy@example.com", password=PASSWORD, cohort=other
    )
    role_grant(user=user, role=TESTERS)
    return user


@pytest.fixture
def reviewer(make_user) -> User:
    return make_user("rita@vernissage.local", reviewer=True)


@pytest.fixture
def staff_without_mfa(db) -> User:
    """A reviewer who has not set up two-factor authentication yet."""
    user = User.objects.create_user(
        username="nora@vernissage.local", email="nora@vernissage.local", password=PASSWORD
    )
    role_grant(user=user, role=REVIEWERS)
    return user


@pytest.fixture
def admin(db) -> User:
    """Staff in the Admins group (manages access, reads the audit log), with TOTP set up."""
    user = User.objects.create_user(
        username="alan@vernissage.local", email="alan@vernissage.local", password=PASSWORD
    )
    role_grant(user=user, role=ADMINS)
    totp_enable(user)
    return user


@pytest.fixture
def red_team_cohort(db) -> Cohort:
    return Cohort.objects.create(
        name="Red team",
        lane=Cohort.Lane.RED_TEAM,
        model_names=["demo"],
        ends_at=timezone.now() + timedelta(days=30),
    )


@pytest.fixture
def red_teamer(make_user, red_team_cohort) -> User:
    """A tester whose cohort is in the red-team lane (files findings; two approvals needed)."""
    user = make_user("eve@example.com")
    user.cohort = red_team_cohort
    user.save(update_fields=["cohort"])
    return user


@pytest.fixture
def signed_in(client, tester):
    """The test client, signed in as the tester (without allauth's form: no UserSession row)."""
    client.force_login(tester)
    return client


def browser_signed_in(user: User, password: str = PASSWORD) -> Client:
    """A new browser signed in through allauth's form, which records the session (UserSession)."""
    browser = Client()
    response = browser.post(reverse("account_login"), {"login": user.email, "password": password})
    assert response.status_code == 302, response.content[:300]
    return browser


def bearer(plaintext: str) -> dict[str, str]:
    """Request headers that authenticate with a personal API token."""
    return {"authorization": f"Bearer {plaintext}"}


# --- standings: every way a tester's access ends -------------------------------------------------


def _end_window(user: User) -> None:
    now = timezone.now()
    Cohort.objects.filter(pk=user.cohort_id).update(
        starts_at=now - timedelta(days=30), ends_at=now - timedelta(seconds=1)
    )


def _not_started(user: User) -> None:
    now = timezone.now()
    Cohort.objects.filter(pk=user.cohort_id).update(
        starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2)
    )


def _store_standing(standing: str):
    def change(user: User) -> None:
        User.objects.filter(pk=user.pk).update(standing=standing, standing_reason="a leak")

    return change


def _suspend_cohort(user: User) -> None:
    Cohort.objects.filter(pk=user.cohort_id).update(
        suspended_at=timezone.now(), suspension_reason="a leak"
    )


def _pause_program(user: User) -> None:
    Program.objects.update_or_create(
        pk=1, defaults={"paused_at": timezone.now(), "pause_reason": "a leak"}
    )


def _deactivate(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


# Each way a tester's access ends, written straight to the rows (no service, no side effect), so
# what a test observes is what the doors derive from the standing alone. name -> change(user)
STANDINGS = {
    "suspended": _store_standing(User.Standing.SUSPENDED),
    "revoked": _store_standing(User.Standing.REVOKED),
    "cohort suspended": _suspend_cohort,
    "program paused": _pause_program,
    "expired": _end_window,
    "cohort not started": _not_started,
    "inactive account": _deactivate,
}


@pytest.fixture
def outputs_dir() -> Iterator[Path]:
    path = Path(settings.OUTPUTS_DIR)
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --- object storage: a real S3 server (moto's) on a loopback port --------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server in a thread of this process, on a free loopback port: reachable by the
    tests, by the workers and web servers they start, and by Chromium. Yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_env(s3_server) -> dict[str, str]:
    """A bucket on that server, and the environment that selects it as the outputs storage
    (`VERNISSAGE_STORAGE=s3` and the rest), for a worker or web server the test starts."""
    env = {
        "VERNISSAGE_STORAGE": "s3",
        "VERNISSAGE_S3_BUCKET": f"outputs-{os.getpid()}",
        "VERNISSAGE_S3_ENDPOINT_URL": s3_server,
        "VERNISSAGE_S3_REGION": "us-east-1",
        "VERNISSAGE_S3_ACCESS_KEY_ID": "test-key",
        "VERNISSAGE_S3_SECRET_ACCESS_KEY": "test-secret",
        "VERNISSAGE_S3_ADDRESSING_STYLE": "path",
    }
    _s3_storage(env).connection.meta.client.create_bucket(Bucket=env["VERNISSAGE_S3_BUCKET"])
    return env


def _s3_storage(env: dict[str, str]):
    """The storage `config.settings` configures from `env`."""
    from storages.backends.s3 import S3Storage

    from config.settings import s3_storage_options

    with _environment(env):
        return S3Storage(**s3_storage_options())


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def _s3_outputs_storage(s3_env):
    return _s3_storage(s3_env)


@pytest.fixture
def s3_outputs(_s3_outputs_storage, monkeypatch):
    """This process's "outputs" storage is the S3 bucket for the test (emptied after it)."""
    from django.core.files.storage import storages

    storage = _s3_outputs_storage
    monkeypatch.setitem(storages._storages, "outputs", storage)
    yield storage
    client, bucket = storage.connection.meta.client, storage.bucket_name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            client.delete_object(Bucket=bucket, Key=item["Key"])
