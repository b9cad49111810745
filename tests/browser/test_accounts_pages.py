"""The account pages in a real Chromium at desk and phone sizes: sign-in, a wrong then a right
second factor that still lands where the reviewer was going, then two-factor, recovery codes
(ending with Continue), sessions, email and password, all in the site's layout and none
scrolling sideways; and an invitation's landing page.

Screenshots land in test-artifacts/browser/ as accounts-<what>-<width>.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.urls import reverse
from playwright.sync_api import Page, expect

from access.models import User
from access.services import invitation_create, terms_publish
from tests.browser.conftest import (
    REVIEWER_EMAIL,
    REVIEWER_PASSWORD,
    Watch,
    current_totp_code,
    new_context,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [(1440, 900), (390, 844)]
# The innermost elements reaching past the window's right edge, to say what to fix.
WIDER_THAN_THE_WINDOW = """(within) => {
  const past = (e) => e.getBoundingClientRect().right > window.innerWidth + 1;
  const name = (e) => `${e.parentElement.className} > ${e.tagName.toLowerCase()}.${e.className}`;
  return [...document.querySelectorAll(`${within} *`)]
    .filter((e) => past(e) && ![...e.children].some(past))
    .slice(0, 5)
    .map((e) => `${name(e)} ${Math.round(e.getBoundingClientRect().right)}px`);
}"""


@pytest.fixture
def reviewer_with_codes(reviewer_totp_secret) -> str:
    """The reviewer's TOTP secret; the reviewer also holds recovery codes."""
    RecoveryCodes.activate(User.objects.get(email=REVIEWER_EMAIL))
    return reviewer_totp_secret


def looks_right(page: Page, screenshots: Path, what: str) -> None:
    """The site's top bar is there, nothing scrolls sideways, and a screenshot for the reader."""
    expect(page.locator("header.topbar .brand")).to_have_text("Vernissage")
    width = page.viewport_size["width"]
    page.screenshot(path=screenshots / f"accounts-{what}-{width}.png", full_page=True)
    in_main = page.evaluate(WIDER_THAN_THE_WINDOW, "main")
    assert not in_main, f"{what}'s content reaches past {width}px: {in_main}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} scrolls sideways by {overflow}px at {width}px: " + str(
        page.evaluate(WIDER_THAN_THE_WINDOW, "body")
    )


@pytest.mark.timeout(240)
@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desk", "phone"])
def test_a_reviewer_signs_in_past_a_wrong_code_and_visits_every_account_page(
    asgi_server, reviewer_with_codes, screenshots, chromium, viewport
):
    watch = Watch()
    context = new_context(chromium, asgi_server, watch)
    page = context.new_page()
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})

    page.goto("/accounts/login/?next=/review/")
    looks_right(page, screenshots, "sign-in")
    page.fill("input[name=login]", REVIEWER_EMAIL)
    page.fill("input[name=password]", REVIEWER_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.fill("input[name=code]", "000000")
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator(".field-error")).to_contain_text("Incorrect code")
    looks_right(page, screenshots, "2fa-wrong-code")
    page.fill("input[name=code]", current_totp_code(reviewer_with_codes))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/review/$"))  # the return address survived the wrong code

    page.goto(reverse("mfa_index"))
    looks_right(page, screenshots, "2fa")
    page.goto(reverse("mfa_view_recovery_codes"))
    expect(page.locator("#recovery_codes")).to_be_visible()
    looks_right(page, screenshots, "recovery-codes")
    last_link = page.locator("main a").last
    expect(last_link).to_have_text("Continue")

    page.goto(reverse("usersessions_list"))
    expect(page.get_by_test_id("session-device").first).to_have_text("Chrome on Linux")
    looks_right(page, screenshots, "sessions")
    page.goto(reverse("account_email"))
    looks_right(page, screenshots, "email")
    page.goto(reverse("account_change_password"))
    looks_right(page, screenshots, "password")

    page.goto(reverse("mfa_view_recovery_codes"))
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r"/review/$"))
    context.close()
    watch.assert_clean()


@pytest.fixture
def invitation_path(cohort, admin) -> str:
    terms_publish(title="Alpha terms", body="Share only what a reviewer approved.", by=None)
    issued = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)
    return reverse("invitation_open", kwargs={"code": issued.code})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["desk", "phone"])
def test_an_invitation_opens_on_a_landing_page_with_one_way_on(
    asgi_server, cohort, invitation_path, screenshots, chromium, viewport
):
    watch = Watch()
    context = new_context(chromium, asgi_server, watch)
    page = context.new_page()
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})

    page.goto(invitation_path)
    landing = page.get_by_test_id("invitation-landing")
    expect(landing.locator("h1")).to_contain_text("invites you to test Vernissage")
    expect(page.get_by_test_id("invitation-program")).to_contain_text(cohort.name)
    expect(page.get_by_test_id("invitation-asks")).to_be_visible()
    expect(page.get_by_test_id("invitation-terms")).to_have_text(
        "Share only what a reviewer approved."
    )
    looks_right(page, screenshots, "invitation")
    page.get_by_test_id("invitation-accept").click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    expect(page.locator("input[name=email]")).to_have_value("ada@example.com")
    looks_right(page, screenshots, "signup")
    context.close()
    watch.assert_clean()
