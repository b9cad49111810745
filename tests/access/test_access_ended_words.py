"""Words that match the state: each way access ends reads its own title, on the page and in the
live banner, and no "Signed in" sits above "You have been signed out"."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from access.wording import ACCESS_ENDED, COHORT_SUSPENDED
from tests.conftest import PASSWORD, STANDINGS

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

# How each cause is made (tests/conftest.py) -> the words it must read.
CAUSES = {
    "suspended": "suspended",
    "revoked": "revoked",
    "cohort suspended": COHORT_SUSPENDED,
    "program paused": "paused",
    "expired": "expired",
}
LIVE_JS = settings.BASE_DIR / "static" / "js" / "live.js"


@pytest.mark.parametrize("cause", CAUSES)
def test_each_cause_reads_its_own_title_on_the_access_ended_page(client, tester, cause):
    client.force_login(tester)
    STANDINGS[cause](tester)

    html = client.get(reverse("studio")).content.decode()

    words = ACCESS_ENDED[CAUSES[cause]]
    assert f"<h1>{words.title}</h1>" in html
    assert words.explanation.replace("'", "&#x27;") in html
    if cause != "expired":  # a window closes by itself, with no reason given
        assert "a leak" in html
    others = {w.title for kind, w in ACCESS_ENDED.items() if kind != CAUSES[cause]}
    assert not any(title in html for title in others)


def test_the_four_causes_have_four_different_titles():
    kinds = ["suspended", "revoked", COHORT_SUSPENDED, "paused"]
    assert len({ACCESS_ENDED[kind].title for kind in kinds}) == 4


@pytest.mark.parametrize("cause", CAUSES)
def test_signing_in_after_access_ended_shows_no_signed_in_message(client, tester, cause):
    STANDINGS[cause](tester)

    page = client.post(reverse("account_login"), {"login": tester.email, "password": PASSWORD})
    html = client.get(page.url).content.decode() if page.status_code == 302 else ""

    assert "You have been signed out" in html
    assert "Successfully signed in" not in html and "Signed in as" not in html


def test_signing_in_in_good_standing_still_confirms_it(client, tester):
    page = client.post(
        reverse("account_login"), {"login": tester.email, "password": PASSWORD}, follow=True
    )

    assert "Successfully signed in as ada@example.com." in page.content.decode()


def test_the_live_banner_uses_the_same_titles_as_the_page():
    source = LIVE_JS.read_text()
    table = source[
        source.index("const ENDED_TITLES") : source.index("};", source.index("const ENDED_TITLES"))
    ]
    live = dict(re.findall(r'(\w+): "([^"]+)"', table))

    assert live == {kind: words.title for kind, words in ACCESS_ENDED.items()}
