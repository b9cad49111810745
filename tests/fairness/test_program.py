"""The program page: configurable text, and the current terms against the version the artist
accepted, as a readable diff."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import AuditEntry
from access.services import terms_accept, terms_publish
from fairness.models import ProgramPage

pytestmark = pytest.mark.django_db


def test_the_program_page_shows_what_changed_in_the_terms_since_the_accepted_version(
    client, tester
):
    first = terms_publish(
        title="Alpha terms", body="Keep it private.\nShare approved work.", by=None
    )
    terms_accept(user=tester, terms=first)
    terms_publish(title="Alpha terms", body="Keep it private.\nShare anything approved.", by=None)
    client.force_login(tester)

    page = client.get(reverse("program")).content.decode()

    assert "You accepted version 1." in page
    assert '<span class="diff-removed">- Share approved work.</span>' in page
    assert '<span class="diff-added">+ Share anything approved.</span>' in page
    assert '<span class="diff-same">  Keep it private.</span>' in page


def test_the_program_page_shows_the_admins_text(client, tester):
    ProgramPage.objects.create(pk=1, participants_receive="A $500 grant and a closing show.")
    client.force_login(tester)

    page = client.get(reverse("program")).content.decode()

    assert "A $500 grant and a closing show." in page
    assert "only with your consent for that video and that purpose" in page  # the default text


def test_admins_edit_the_text_in_the_admin_and_the_change_is_audited(client, admin, tester):
    client.force_login(admin)
    fields = {
        "about": "The spring alpha.",
        "participants_receive": "Credits for 200 renders.",
        "outputs_policy": "Kept for 90 days.",
    }

    response = client.post(reverse("admin:fairness_programpage_add"), fields)

    assert response.status_code == 302, response.content[:500]
    entry = AuditEntry.objects.get(action="fairness.program_page.changed")
    assert entry.actor == admin
    client.force_login(tester)
    assert "Credits for 200 renders." in client.get(reverse("program")).content.decode()
