"""The browser tests' Watch: a load aborted by leaving the page is not a failure, a broken one is.

Chromium reports both with the same error (net::ERR_ABORTED): a script still loading when a
redirect or a click leaves the page, and a script refused under nosniff. A Watch that failed on the
first made a journey test fail now and then on a loaded machine; one that passed on the second
would hide a broken page. `page.route(...).abort("aborted")` makes Chromium report exactly that
error for a load of the test's choosing.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Watch, new_context

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def load_script_aborted(page: Page, path: str) -> None:
    """The page asks for the script at `path`, and the load ends in net::ERR_ABORTED."""
    page.route(f"**{path}", lambda route: route.abort("aborted"))
    page.goto("/accounts/login/")
    with page.expect_event("requestfailed", predicate=lambda r: r.url.endswith(path)):
        page.evaluate(
            "src => { const s = document.createElement('script'); s.src = src;"
            " document.head.append(s); }",
            path,
        )


def test_a_script_aborted_that_the_server_still_serves_is_not_a_failure(
    asgi_server, chromium: Browser
):
    watch = Watch()
    page = new_context(chromium, asgi_server, watch).new_page()
    load_script_aborted(page, "/static/js/review.js")

    assert [r.url for r in watch.aborted] == [f"{asgi_server}/static/js/review.js"]
    watch.assert_clean()
    assert watch.failures == []


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/static/js/not-there.js", r"404"),
        # What nosniff refuses: a script's address answered with HTML (a redirect to sign in).
        ("/studio/", r"302"),
    ],
    ids=["not-served", "answered-with-a-page"],
)
def test_a_script_aborted_that_the_server_does_not_serve_as_a_script_is_a_failure(
    asgi_server, chromium: Browser, path: str, answer: str
):
    watch = Watch()
    page = new_context(chromium, asgi_server, watch).new_page()
    load_script_aborted(page, path)

    with pytest.raises(
        AssertionError, match=rf"{re.escape(path)} failed: net::ERR_ABORTED.*{answer}"
    ):
        watch.assert_clean()
