"""The site bar (templates/base.html): its menu is a disclosure that works without JS, grouped by
who you are, and "Findings" is offered only to red-teamers and the staff who moderate them."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def _nav(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("gallery"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("person", "shown"),
    [("tester", False), ("red_teamer", True), ("reviewer", True), ("admin", False)],
)
def test_findings_is_in_the_menu_only_for_red_teamers_and_moderators(
    client, request, person, shown
):
    html = _nav(client, request.getfixturevalue(person))
    assert ('data-testid="nav-findings"' in html) is shown
    assert html.count('data-testid="nav-findings"') <= 1


def test_the_menu_is_a_disclosure_with_the_account_group_for_everyone(client, tester):
    html = _nav(client, tester)
    assert '<details class="menu"' in html and 'data-testid="menu-toggle"' in html
    assert 'data-testid="nav-account"' in html and 'data-testid="nav-tester"' in html
    assert 'data-testid="nav-staff"' not in html


def test_staff_see_their_group_and_not_the_testers_one(client, admin):
    html = _nav(client, admin)
    assert 'data-testid="nav-staff"' in html and 'data-testid="nav-tester"' not in html
    assert reverse("staff_invitations") in html and reverse("studio") not in html


def test_the_current_page_is_marked_in_the_menu(client, tester):
    html = _nav(client, tester)
    assert f'<a href="{reverse("gallery")}" aria-current="page">Gallery</a>' in html


def test_messages_render_as_banners(client, tester):
    client.force_login(tester)
    client.post(reverse("preferences"), {})
    html = client.get(reverse("gallery")).content.decode()
    assert 'class="messages"' in html and 'class="banner ' in html
