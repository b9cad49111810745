"""What every browser test needs: Debian's Chromium, contexts that record what went wrong, the
reviewer's second factor, and a folder for screenshots (test-artifacts/browser/)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.db import connections
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Response,
    WebSocket,
    expect,
    sync_playwright,
)

from access.models import User
from access.roles import ADMINS, role_grant
from tests.conftest import WAIT_SCALE, totp_enable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Actions and navigations wait up to UI_TIMEOUT_MS; expect() waits up to 5 s for what is
# already on its way. Both are ceilings against hanging, stretched by WAIT_SCALE like every wait on
# another process: on a loaded machine the server behind the page answers late, not wrongly.
UI_TIMEOUT_MS = 10_000 * WAIT_SCALE
expect.set_options(timeout=5_000 * WAIT_SCALE)

TESTER_EMAIL = "ada@example.com"
TESTER_PASSWORD = "Lighthouse-at-dusk-71"
REVIEWER_EMAIL = "rita@vernissage.local"
REVIEWER_PASSWORD = "Reviewing-is-fun-38"
ADMIN_EMAIL = "alan@vernissage.local"
ADMIN_PASSWORD = "Contain-the-leak-52"

T = TypeVar("T")


# What a script or stylesheet must be served as: with nosniff, anything else is refused.
SERVED_AS = {"script": "javascript", "stylesheet": "text/css", "document": "text/html"}


@dataclass
class Watch:
    """Failed requests and script errors in one browser context, to fail with what went wrong."""

    failures: list[str] = field(default_factory=list)
    aborted: list[Request] = field(default_factory=list)
    context: BrowserContext | None = None

    def attach(self, context: BrowserContext) -> None:
        self.context = context
        context.on("response", self._response)
        context.on("requestfailed", self._request_failed)
        context.on("weberror", lambda error: self.failures.append(f"JS error: {error.error}"))

    def _response(self, response: Response) -> None:
        # Chromium asks for /favicon.ico on its own; the app has none, and no page links one.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.failures.append(f"{response.request.method} {response.url} -> {response.status}")

    def _request_failed(self, request: Request) -> None:
        # With nosniff, a stylesheet or script answered by an HTML error page is aborted before any
        # response event. Media loads are left out: leaving a page aborts them, and that is fine.
        if request.resource_type not in SERVED_AS:
            return
        if request.failure == "net::ERR_ABORTED" and request.method == "GET":
            # Leaving a page (a redirect, a click on a link) also aborts the loads still under
            # way, with this same error. Which one it was is settled in assert_clean, by asking
            # for the same address again: an address that still serves the right type was left,
            # not broken.
            self.aborted.append(request)
            return
        self.failures.append(f"{request.method} {request.url} failed: {request.failure}")

    def _recheck_aborted(self) -> None:
        assert self.context is not None, "Watch.attach was not called"
        for request in self.aborted:
            response = self.context.request.get(request.url, max_redirects=0)
            served_as = response.headers.get("content-type", "")
            if response.status >= 400 or SERVED_AS[request.resource_type] not in served_as:
                self.failures.append(
                    f"{request.method} {request.url} failed: net::ERR_ABORTED, and asked again it "
                    f"answers {response.status} {served_as!r}"
                )
        self.aborted.clear()

    def assert_clean(self) -> None:
        if self.aborted:
            self._recheck_aborted()
        assert not self.failures, "the browser met errors:\n" + "\n".join(self.failures)


@pytest.fixture
def screenshots(artifacts_dir) -> Path:
    path = artifacts_dir / "browser"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Request it after the fixtures that write rows: Playwright's sync API runs an event loop in
    this thread while it is open, and Django refuses ORM calls from a thread running one."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def reviewer_totp_secret(make_user) -> str:
    """Reviewers are staff, and staff sign in with a second factor: the secret of theirs."""
    reviewer = make_user(REVIEWER_EMAIL, password=REVIEWER_PASSWORD, reviewer=True)
    authenticator = Authenticator.objects.get(user=reviewer, type=Authenticator.Type.TOTP)
    return decrypt(authenticator.data["secret"])


@pytest.fixture
def admin_totp_secret(db) -> str:
    """An admin (manages access, behind MFA): the secret of their authenticator app."""
    admin = User.objects.create_user(
        username=ADMIN_EMAIL, email=ADMIN_EMAIL, password=ADMIN_PASSWORD
    )
    role_grant(user=admin, role=ADMINS)
    return totp_enable(admin)


def sign_in_as_admin(page: Page, totp_secret: str, next_path: str) -> None:
    page.goto(f"/accounts/login/?next={next_path}")
    page.fill("input[name=login]", ADMIN_EMAIL)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.fill("input[name=code]", current_totp_code(totp_secret))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(rf"{re.escape(next_path)}$"))


def new_context(
    browser: Browser,
    base_url: str,
    watch: Watch,
    *,
    viewport: tuple[int, int] = (1280, 900),
    storage_state: dict | None = None,
) -> BrowserContext:
    """A context that reports to `watch`; `storage_state` (a signed-in context's) skips sign-in."""
    width, height = viewport
    context = browser.new_context(
        base_url=base_url,
        viewport={"width": width, "height": height},
        storage_state=storage_state,
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    watch.attach(context)
    return context


def record_studio_frames(page: Page) -> list[dict]:
    """Every message the page's studio sockets receive, across reconnects, in order."""
    frames: list[dict] = []

    def on_socket(socket: WebSocket) -> None:
        if socket.url.endswith("/ws/studio/"):
            socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


def job_events(frames: list[dict], job_id: str) -> list[dict]:
    return [f["job"] for f in frames if f["type"] == "job" and f["job"]["id"] == job_id]


def expect_live(page: Page) -> None:
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def current_totp_code(secret: str) -> str:
    """What the reviewer's authenticator app shows now. The server accepts only the current
    period's code, so a code about to expire is not worth typing: wait for the next one."""
    period = mfa_settings.TOTP_PERIOD
    if period - time.time() % period < 3:
        time.sleep(3)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))


@pytest.fixture
def tester(make_user) -> User:
    """The tester, with a password a browser types."""
    return make_user(TESTER_EMAIL, password=TESTER_PASSWORD)


def sign_in_to_studio(page: Page) -> None:
    page.goto("/accounts/login/?next=/studio/")
    page.fill("input[name=login]", TESTER_EMAIL)
    page.fill("input[name=password]", TESTER_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/studio/$"))


def sign_in_to_review(page: Page, totp_secret: str) -> None:
    page.goto("/accounts/login/?next=/review/")
    page.fill("input[name=login]", REVIEWER_EMAIL)
    page.fill("input[name=password]", REVIEWER_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.fill("input[name=code]", current_totp_code(totp_secret))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/review/$"))


def off_the_event_loop(query: Callable[[], T]) -> T:
    """Run an ORM query in a thread of its own: Playwright's sync API keeps an event loop in this
    one, and Django refuses ORM calls from a thread running one."""

    def run() -> T:
        try:
            return query()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
