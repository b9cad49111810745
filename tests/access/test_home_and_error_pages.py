"""`/` takes each role to its first page; refusals and missing pages keep the site's layout;
browsers asking for /favicon.ico get the icon."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def test_the_home_address_takes_each_role_to_its_first_page(client, tester, reviewer, admin):
    landing = {}
    for user in (tester, reviewer, admin):
        client.force_login(user)
        landing[user.email] = client.get("/")["Location"]
    client.logout()

    assert landing == {
        tester.email: reverse("studio"),
        reviewer.email: reverse("review_queue"),
        admin.email: reverse("staff_testers"),
    }
    assert client.get("/")["Location"] == reverse("studio")  # which asks a visitor to sign in


def test_a_page_refused_to_a_tester_keeps_the_site_layout_and_says_why(client, tester):
    client.force_login(tester)

    response = client.get(reverse("review_queue"))

    html = response.content.decode()
    assert response.status_code == 403
    assert 'class="topbar"' in html or "site-menu" in html
    assert "This page is not open to you" in html
    assert "for reviewers" in html  # the view's own reason


def test_a_missing_page_keeps_the_site_layout(client, tester):
    client.force_login(tester)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "site-menu" in response.content.decode()
    assert "Nothing here" in response.content.decode()


def test_browsers_asking_for_favicon_ico_are_sent_to_the_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"].endswith("favicon.svg")
