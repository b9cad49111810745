"""An admin revokes a tester from the testers page: the impact comes first, Cancel does nothing,
the confirm step acts and says what it ended; revoking an API token needs confirming too. At the
desktop and the phone size (no page scrolls sideways on the phone). Screenshots land in
test-artifacts/browser/ as staff-*-<width>.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from access.models import ApiToken, User
from access.roles import TESTERS, role_grant
from access.services import invitation_create, token_create
from tests.browser.conftest import (
    ADMIN_EMAIL,
    TESTER_EMAIL,
    Watch,
    new_context,
    off_the_event_loop,
    sign_in_as_admin,
)
from tests.factories import make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [(1440, 900), (390, 844)]
REASON = "Shared their account with a friend"


@pytest.fixture
def tester_with_work(tester, admin_totp_secret) -> User:
    """The tester holds a live API token and a queued job; the admin a token of their own."""
    token_create(user=tester, name="cli", scopes=["jobs:read"])
    make_job(tester)
    admin = User.objects.get(email=ADMIN_EMAIL)
    token_create(user=admin, name="ops laptop", scopes=["jobs:read"])
    return tester


# The outermost elements that stick out on the right: what to fix when a page scrolls sideways.
WIDER_THAN_VIEWPORT = """
[...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .filter(e => !(e.parentElement && e.parentElement.getBoundingClientRect().right > innerWidth + 1))
  .slice(0, 5).map(e => e.tagName + "." + e.className)
"""


def no_sideways_scroll(page: Page) -> None:
    wide = page.evaluate(WIDER_THAN_VIEWPORT)
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), (page.url, wide)


def shot(page: Page, screenshots: Path, name: str, width: int) -> None:
    if width < 600:
        no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"staff-{name}-{width}.png", full_page=True)


def _standing() -> str:
    return off_the_event_loop(lambda: User.objects.get(email=TESTER_EMAIL).standing)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: str(v[0]))
def test_revoking_a_tester_shows_the_impact_and_acts_only_when_confirmed(
    asgi_server, tester_with_work, admin_totp_secret, screenshots, chromium, viewport
):
    width, height = viewport
    watch = Watch()
    context = new_context(chromium, asgi_server, watch)
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    sign_in_as_admin(page, admin_totp_secret, "/staff/testers/")
    shot(page, screenshots, "testers", width)

    page.get_by_test_id("revoke").click()
    impact = page.get_by_test_id("impact")
    expect(impact).to_contain_text("ends 0 sessions, stops 0 running jobs, cancels 1 queued job")
    expect(impact).to_contain_text("revokes 1 API token")
    shot(page, screenshots, "revoke-impact", width)
    page.get_by_test_id("cancel").click()
    expect(page).to_have_url(re.compile(r"/staff/testers/$"))
    assert _standing() == User.Standing.ACTIVE

    page.get_by_test_id("revoke").click()
    page.get_by_test_id("confirm-reason").fill(REASON)
    page.get_by_test_id("confirm").click()
    expect(page.locator(".messages")).to_contain_text(
        f"{TESTER_EMAIL} revoked. Ended 0 sessions; cancelled 1 queued"
    )
    expect(page.locator(f"tr[data-tester='{TESTER_EMAIL}']")).to_contain_text(REASON)
    assert _standing() == User.Standing.REVOKED
    shot(page, screenshots, "testers-revoked", width)

    page.goto("/tokens/")
    page.get_by_test_id("revoke-token").click()
    expect(page.get_by_test_id("impact")).to_contain_text("stops working at once")
    shot(page, screenshots, "token-revoke-confirm", width)
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("revoke-token")).to_be_visible()
    page.get_by_test_id("revoke-token").click()
    page.get_by_test_id("confirm").click()
    expect(page.locator(".messages")).to_contain_text("Token 'ops laptop' revoked")
    revoked = off_the_event_loop(lambda: ApiToken.objects.get(name="ops laptop").revoked_at)
    assert revoked is not None
    watch.assert_clean()


# 195 characters, as a real (if unkind) address can be: no staff page may scroll sideways for it.
LONG_EMAIL = f"{'a' * 64}@{'b' * 60}.{'c' * 57}.example.com"
LONG_PAGES = ("/staff/testers/", "/staff/invitations/", "/staff/audit/", "suspend", "revoke")


@pytest.fixture
def long_addresses(admin_totp_secret, cohort) -> User:
    """A tester with a 195-character address, and a pending invitation (and its audit entry) for
    another one."""
    long = User.objects.create_user(username="long-address", email=LONG_EMAIL, cohort=cohort)
    role_grant(user=long, role=TESTERS)
    admin = User.objects.get(email=ADMIN_EMAIL)
    invitation_create(email=f"z{LONG_EMAIL[1:]}", invited_by=admin, cohort=cohort, send=False)
    return long


def test_a_195_character_address_scrolls_no_staff_page_sideways(
    asgi_server, long_addresses, admin_totp_secret, screenshots, chromium
):
    assert len(LONG_EMAIL) == 195
    watch = Watch()
    page = new_context(chromium, asgi_server, watch).new_page()
    sign_in_as_admin(page, admin_totp_secret, "/staff/testers/")
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        for path in LONG_PAGES:
            if path in ("suspend", "revoke"):
                path = f"/staff/testers/{long_addresses.pk}/{path}/"
            page.goto(path)
            expect(page.locator("main")).to_contain_text(LONG_EMAIL[1:64])
            no_sideways_scroll(page)
        page.screenshot(path=screenshots / f"staff-long-address-revoke-{width}.png")
    watch.assert_clean()
