"""Every HTML page each role can reach, in a real Chromium at a laptop's and a phone's size.

Per role: sign in once, then for each width one browser context visits every page, asserting a
200, the site bar, and (on the phone) that nothing scrolls sideways and the menu is collapsed. A
full-page screenshot of each lands in test-artifacts/browser/screens/<role>-<page>-<width>.png;
`scripts/screens.py` copies the ones a reader should see into docs/screens/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import decrypt
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from access.models import Cohort, User
from access.roles import ADMINS, role_grant
from access.services import invitation_create, terms_accept, terms_publish, token_create
from fairness.services import appeal_file, legal_hold_place, use_request_create
from provenance.models import Trace
from review.models import Output
from review.services import feedback_submit, finding_file, output_reject, share_link_create
from tests.browser.conftest import (
    REVIEWER_EMAIL,
    REVIEWER_PASSWORD,
    TESTER_EMAIL,
    TESTER_PASSWORD,
    UI_TIMEOUT_MS,
    Watch,
    current_totp_code,
    new_context,
)
from tests.conftest import totp_enable
from tests.factories import make_job, make_output
from webhooks.models import Endpoint, EventType
from webhooks.signing import secret_generate, secret_seal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {1440: 900, 390: 844}
RED_TEAMER_EMAIL = "eve@example.com"
ADMIN_EMAIL = "alan@vernissage.local"
ADMIN_PASSWORD = "Running-the-program-17"
# The pages of allauth every signed-in person reaches from the menu's account group.
ACCOUNT_PAGES = {
    "email": "account_email",
    "password": "account_change_password",
    "security": "mfa_index",
    "sessions": "usersessions_list",
}


@dataclass
class Person:
    email: str
    password: str
    totp_secret: str | None = None


def _totp_secret(user: User) -> str:
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    return decrypt(authenticator.data["secret"])


@pytest.fixture
def world(tester, make_user, red_team_cohort, outputs_dir) -> dict:
    """One of every object a page shows, so that no page is seen only empty."""
    rita = make_user(REVIEWER_EMAIL, password=REVIEWER_PASSWORD, reviewer=True)
    otto = make_user("otto@vernissage.local", reviewer=True)
    alan = User.objects.create_user(
        username=ADMIN_EMAIL, email=ADMIN_EMAIL, password=ADMIN_PASSWORD
    )
    role_grant(user=alan, role=ADMINS)
    alan_secret = totp_enable(alan)
    eve = make_user(RED_TEAMER_EMAIL, password=TESTER_PASSWORD)
    eve.cohort = red_team_cohort
    eve.save(update_fields=["cohort"])
    terms = terms_publish(
        title="Alpha terms", body="Share only what a reviewer approved.\nCredit the model.", by=alan
    )
    for person in (tester, eve):
        terms_accept(user=person, terms=terms)

    approved = make_output(tester, state=Output.State.APPROVED)
    pending = make_output(tester)
    make_job(tester, prompt="a heron lifting off a misty river at first light")
    link = share_link_create(output=approved, by=tester)
    feedback_submit(output=approved, by=tester, rating=4, notes="The water moves well.")
    rejected = output_reject(output=make_output(tester), by=otto, reason="Violence or gore")
    appeal_file(output=rejected, by=tester, note="A painted battle scene, no gore.")
    use_request_create(output=approved, purpose="showcase", message="For the site?", by=alan)
    token_create(user=tester, name="laptop", scopes=["jobs:read"])
    endpoint = Endpoint.objects.create(
        owner=tester,
        url="https://hooks.example.com/vernissage",
        events=EventType.values,
        secret_encrypted=secret_seal(secret_generate()),
    )
    eve_output = make_output(eve)
    finding_file(
        output=eve_output,
        by=eve,
        category="other",
        severity="low",
        description="The watermark fades on fast pans.",
    )
    cohort = Cohort.objects.get(pk=tester.cohort_id)
    invitation_create(email="new@example.com", invited_by=alan, cohort=cohort)
    legal_hold_place(tester=eve, by=alan, reason="An investigation")
    trace = Trace.objects.create(
        file_name="traces/x/suspect.mp4",
        original_name="suspect.mp4",
        size_bytes=1,
        sha256="0" * 64,
        state="done",
        result={
            "identified": None,
            "watermark": {"found": False},
            "fingerprint_leads": {"note": "Look-alikes are leads, not proof.", "leads": []},
            "frames_read": 12,
            "width": 64,
            "height": 64,
            "seconds": 0.4,
        },
        finished_at=timezone.now(),
    )
    return {
        "people": {
            "tester": Person(TESTER_EMAIL, TESTER_PASSWORD),
            "red-teamer": Person(RED_TEAMER_EMAIL, TESTER_PASSWORD),
            "reviewer": Person(REVIEWER_EMAIL, REVIEWER_PASSWORD, _totp_secret(rita)),
            "admin": Person(ADMIN_EMAIL, ADMIN_PASSWORD, alan_secret),
        },
        "approved": approved,
        "pending": pending,
        "eve_output": eve_output,
        "link": link,
        "endpoint": endpoint,
        "trace": trace,
    }


def _pages_of_any_tester(world: dict, output: Output) -> dict[str, str]:
    return {
        "studio": reverse("studio"),
        "my-work": reverse("artist_home"),
        "gallery": reverse("gallery"),
        "shares": reverse("my_shares"),
        "threads": reverse("threads"),
        "program": reverse("program"),
        "terms": reverse("terms"),
        "output": reverse("output_detail", kwargs={"output_id": output.id}),
        "preferences": reverse("preferences"),
        "tokens": reverse("tokens"),
        **{page: reverse(name) for page, name in ACCOUNT_PAGES.items()},
    }


def pages_of_a_tester(world: dict) -> dict[str, str]:
    return {
        **_pages_of_any_tester(world, world["approved"]),
        "webhooks": reverse("webhooks"),
        "webhook": reverse("webhook_detail", kwargs={"endpoint_id": world["endpoint"].id}),
    }


def pages_of_a_red_teamer(world: dict) -> dict[str, str]:
    return {**_pages_of_any_tester(world, world["eve_output"]), "findings": reverse("findings")}


def pages_of_a_reviewer(world: dict) -> dict[str, str]:
    return {
        "queue": reverse("review_queue"),
        "stats": reverse("review_stats"),
        "appeals": reverse("appeals"),
        "findings": reverse("findings"),
        "threads": reverse("threads"),
        "gallery": reverse("gallery"),
        "output": reverse("output_detail", kwargs={"output_id": world["pending"].id}),
        "preferences": reverse("preferences"),
        "tokens": reverse("tokens"),
        **{page: reverse(name) for page, name in ACCOUNT_PAGES.items()},
    }


def pages_of_an_admin(world: dict) -> dict[str, str]:
    return {
        "invitations": reverse("staff_invitations"),
        "testers": reverse("staff_testers"),
        "containment": reverse("staff_containment"),
        "audit": reverse("staff_audit"),
        "usage": reverse("staff_usage"),
        "uses": reverse("staff_uses"),
        "holds": reverse("staff_holds"),
        "traces": reverse("staff_traces"),
        "trace": reverse("staff_trace", kwargs={"trace_id": world["trace"].id}),
        "threads": reverse("threads"),
        "gallery": reverse("gallery"),
        "tokens": reverse("tokens"),
        **{page: reverse(name) for page, name in ACCOUNT_PAGES.items()},
    }


def sign_in(page: Page, person: Person) -> None:
    page.goto("/accounts/login/?next=/gallery/")
    page.fill("input[name=login]", person.email)
    page.fill("input[name=password]", person.password)
    page.get_by_role("button", name="Sign In").click()
    if person.totp_secret:
        expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
        page.fill("input[name=code]", current_totp_code(person.totp_secret))
        page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url and "/2fa/" not in url)


def visit(page: Page, path: str, width: int, shot: Path, *, site_bar: bool = True) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path} -> {response}"
    if site_bar:
        expect(page.get_by_test_id("topbar")).to_be_visible()
    if width < 800:
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= page.evaluate("window.innerWidth"), f"{path} scrolls sideways"
    page.screenshot(path=shot, full_page=True)


def check_menu(page: Page, width: int, shot: Path) -> None:
    """On a phone the menu is one button until opened; on a laptop its links are all in view."""
    nav = page.get_by_test_id("site-nav")
    if width < 800:
        expect(nav).to_be_hidden()
        page.get_by_test_id("menu-toggle").click()
        expect(nav).to_be_visible()
        page.screenshot(path=shot)
        page.get_by_test_id("menu-toggle").click()
        expect(nav).to_be_hidden()
        page.get_by_test_id("menu-toggle").click()  # open again: Escape closes it (with JS)
        expect(nav).to_be_visible()
        page.keyboard.press("Escape")
        expect(nav).to_be_hidden()
        expect(page.get_by_test_id("menu-toggle")).to_be_focused()
    else:
        expect(page.get_by_test_id("menu-toggle")).to_be_hidden()
        expect(nav).to_be_visible()


def tour(
    chromium: Browser,
    base_url: str,
    screenshots: Path,
    role: str,
    person: Person,
    pages: dict[str, str],
) -> None:
    folder = screenshots / "screens"
    folder.mkdir(exist_ok=True)
    watch = Watch()
    state = None  # signed in once: the phone's context reuses the laptop's cookies
    for viewport in WIDTHS.items():
        context = new_context(chromium, base_url, watch, viewport=viewport, storage_state=state)
        page = context.new_page()
        if state is None:
            sign_in(page, person)
            state = context.storage_state()
        width = viewport[0]
        for name, path in pages.items():
            visit(page, path, width, folder / f"{role}-{name}-{width}.png")
        check_menu(page, width, folder / f"{role}-menu-open-{width}.png")
        context.close()
    watch.assert_clean()


def test_a_tester_reaches_every_page_on_a_laptop_and_a_phone(
    asgi_server, world, screenshots, chromium
) -> None:
    person = world["people"]["tester"]
    tour(chromium, asgi_server, screenshots, "tester", person, pages_of_a_tester(world))


def test_a_red_teamer_reaches_every_page_on_a_laptop_and_a_phone(
    asgi_server, world, screenshots, chromium
) -> None:
    person = world["people"]["red-teamer"]
    tour(chromium, asgi_server, screenshots, "red-teamer", person, pages_of_a_red_teamer(world))


def test_a_reviewer_reaches_every_page_on_a_laptop_and_a_phone(
    asgi_server, world, screenshots, chromium
) -> None:
    person = world["people"]["reviewer"]
    tour(chromium, asgi_server, screenshots, "reviewer", person, pages_of_a_reviewer(world))


def test_an_admin_reaches_every_page_on_a_laptop_and_a_phone(
    asgi_server, world, screenshots, chromium
) -> None:
    person = world["people"]["admin"]
    tour(chromium, asgi_server, screenshots, "admin", person, pages_of_an_admin(world))


def test_a_visitor_reaches_the_sign_in_and_a_shared_video_on_a_laptop_and_a_phone(
    asgi_server, world, screenshots, chromium
) -> None:
    """The share page has no site bar on purpose: a public page leads nowhere else."""
    folder = screenshots / "screens"
    folder.mkdir(exist_ok=True)
    pages = {
        "sign-in": reverse("account_login"),
        "reset-password": reverse("account_reset_password"),
        "share": reverse("shared_page", kwargs={"token": world["link"].token}),
    }
    watch = Watch()
    for width, height in WIDTHS.items():
        context = new_context(chromium, asgi_server, watch, viewport=(width, height))
        page = context.new_page()
        for name, path in pages.items():
            shot = folder / f"visitor-{name}-{width}.png"
            visit(page, path, width, shot, site_bar=name != "share")
        context.close()
    watch.assert_clean()


def test_the_menu_works_without_javascript(asgi_server, world, chromium) -> None:
    """The menu is a disclosure, not a script: with JS off it is open on a laptop and opens and
    closes on a phone."""
    context = chromium.new_context(base_url=asgi_server, java_script_enabled=False)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, world["people"]["tester"])
    check_menu(page, 1440, Path("unused"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    nav = page.get_by_test_id("site-nav")
    expect(nav).to_be_hidden()
    page.get_by_test_id("menu-toggle").click()
    expect(nav.get_by_role("link", name="Studio")).to_be_visible()
    context.close()
