"""The staff pages read right: bulk invites keep what failed, the audit log is filtered from a list
and reads as key/value, the testers page is searchable with each tester's jobs and reviews, a token
is revoked only once confirmed, and every action confirms itself in words."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from access.models import ApiToken, AuditEntry, Invitation, User
from access.services import audit_record, token_create
from containment.services import tester_suspend as suspend  # not collected as a test
from review.models import Output
from tests.factories import make_job, make_output

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


@pytest.fixture
def staff_client(client, admin):
    client.force_login(admin)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- bulk invitations -------------------------------------------------------------------------


def test_a_bulk_invite_keeps_the_failed_lines_for_correction_and_shows_the_links_made(
    staff_client, cohort, django_capture_on_commit_callbacks
):
    lines = (
        "ada@example.com\nnot-an-email,Test cohort\nbob@example.com,,Bob B\ncyd@example.com,Nowhere"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("staff_invitations"), {"bulk": "1", "cohort": cohort.pk, "lines": lines}
        )

    assert response.status_code == 200
    assert response.context["bulk"]["lines"].value() == (
        "not-an-email,Test cohort\ncyd@example.com,Nowhere"
    )
    issued = response.context["bulk_issued"]
    assert sorted(i.invitation.email for i in issued) == ["ada@example.com", "bob@example.com"]
    html = response.content.decode()
    assert all(i.url in html for i in issued)  # the two links, shown once
    assert html.count("/invite/") == 2
    assert "2 lines could not be invited" in html
    assert _messages(response) == [
        "Invited 2 people; 2 lines could not be invited: see the list by the box below."
    ]
    assert Invitation.objects.count() == 2


def test_each_failed_bulk_line_is_named_once_in_the_list_by_the_box(staff_client, cohort):
    response = staff_client.post(
        reverse("staff_invitations"),
        {"bulk": "1", "cohort": cohort.pk, "lines": "not-an-email\nada@x.org"},
    )

    html = response.content.decode()
    failure = "line 1: &#x27;not-an-email&#x27; is not a valid email address."
    assert html.count(failure) == 1
    assert html.index('data-testid="bulk-errors"') < html.index('name="lines"')
    assert not any("not-an-email" in message for message in _messages(response))


def test_a_bulk_invite_over_the_line_limit_is_refused_naming_the_limit(staff_client, cohort):
    lines = "\n".join(f"person{n}@example.com" for n in range(501))

    response = staff_client.post(
        reverse("staff_invitations"), {"bulk": "1", "cohort": cohort.pk, "lines": lines}
    )

    assert response.status_code == 400
    assert "At most 500 lines at a time; this has 501." in response.content.decode()
    assert not Invitation.objects.exists()
    assert _messages(response) == []


def test_a_nul_in_the_bulk_lines_says_what_is_wrong(staff_client, cohort):
    response = staff_client.post(
        reverse("staff_invitations"), {"bulk": "1", "cohort": cohort.pk, "lines": "ada@x.org\x00"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Null characters are not allowed." in html
    assert "Paste some lines or choose a CSV file." not in html
    assert not Invitation.objects.exists()


def test_a_bulk_invite_of_one_person_says_person(staff_client, cohort):
    response = staff_client.post(
        reverse("staff_invitations"), {"bulk": "1", "cohort": cohort.pk, "lines": "ada@x.org"}
    )

    assert "Invited 1 person." in _messages(response)
    assert response.context["bulk"]["lines"].value() == ""


# --- audit log --------------------------------------------------------------------------------


@pytest.fixture
def history(admin, tester):
    token_create(user=tester, name="cli", scopes=["jobs:read"])
    suspend(tester=tester, by=admin, reason="spam")


def test_the_audit_log_is_filtered_by_an_action_chosen_from_the_list(client, admin, history):
    client.force_login(admin)

    response = client.get(reverse("staff_audit"), {"action": "access.tester.suspended"})

    assert response.status_code == 200
    assert [entry.action for entry in response.context["page"]] == ["access.tester.suspended"]
    html = response.content.decode()
    assert '<option value="access.tester.suspended" selected>Tester suspended</option>' in html
    assert '<option value="access.token">access.token: all</option>' in html


def test_an_unknown_audit_action_is_reported_on_the_page_not_ignored(client, admin, history):
    client.force_login(admin)

    response = client.get(reverse("staff_audit"), {"action": "access.nonsense"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Unknown action &#x27;access.nonsense&#x27;: choose one from the list." in html
    assert response.context["rows"] == []  # nothing is listed as if the filter were not there


def test_audit_details_read_as_key_and_value(client, admin, history):
    client.force_login(admin)

    response = client.get(reverse("staff_audit"), {"action": "access.tester.suspended"})

    html = response.content.decode()
    assert "<dt>Reason</dt><dd>spam</dd>" in html
    assert "<dt>Sessions ended</dt><dd>0</dd>" in html
    assert "{&#x27;scope&#x27;" not in html  # no raw dict


def test_audit_details_with_lists_read_as_words(client, admin, tester):
    audit_record(
        action="access.token.created", actor=tester, target=None, details={"scopes": ["a", "b"]}
    )
    client.force_login(admin)

    html = client.get(reverse("staff_audit")).content.decode()

    assert "<dt>Scopes</dt><dd>a, b</dd>" in html


# --- testers ----------------------------------------------------------------------------------


def test_the_testers_page_searches_and_counts_each_testers_jobs_and_reviews(
    client, admin, tester, other_tester, outputs_dir
):
    make_job(tester)
    make_output(tester, state=Output.State.APPROVED)
    make_output(tester, state=Output.State.REJECTED)
    make_output(other_tester, state=Output.State.NEEDS_CHANGES)
    client.force_login(admin)

    everyone = client.get(reverse("staff_testers"))
    found = client.get(reverse("staff_testers"), {"q": "ADA@"})

    assert [t.email for t, _ in everyone.context["rows"]] == [tester.email, other_tester.email]
    [(ada, activity)] = found.context["rows"]
    assert ada == tester
    assert (activity.jobs, activity.approved, activity.rejected) == (3, 1, 1)
    assert "1 approved · 1 rejected · 0 needs changes" in found.content.decode()


def test_the_testers_page_filters_by_standing(client, admin, tester, other_tester):
    suspend(tester=tester, by=admin, reason="spam")
    client.force_login(admin)

    response = client.get(reverse("staff_testers"), {"standing": "suspended"})

    assert [t.email for t, _ in response.context["rows"]] == [tester.email]
    assert "spam" in response.content.decode()  # the one reason, shown with the standing


def test_an_invalid_standing_filter_is_reported_on_the_testers_page(client, admin, tester):
    client.force_login(admin)

    response = client.get(reverse("staff_testers"), {"standing": "angry"})

    assert response.status_code == 400
    assert "Select a valid choice. angry is not one of the available choices." in (
        response.content.decode()
    )
    assert response.context["rows"] == []  # not everyone, as if the filter were not there


@pytest.mark.parametrize(
    ("url", "page", "problem"),
    [
        ("staff_testers", "50", "There is no page 50; the last is 1."),
        ("staff_testers", "-1", "Ensure this value is greater than or equal to 1."),
        ("staff_testers", "abc", "Enter a whole number."),
        ("staff_audit", "999", "There is no page 999; the last is 1."),
        ("staff_audit", "-1", "Ensure this value is greater than or equal to 1."),
        ("staff_audit", "abc", "Enter a whole number."),
    ],
)
def test_a_page_past_the_end_or_not_a_number_is_refused_naming_it(
    client, admin, history, url, page, problem
):
    client.force_login(admin)

    response = client.get(reverse(url), {"page": page})

    assert response.status_code == 400
    assert problem in response.content.decode()
    assert response.context["rows"] == []


def test_a_search_with_no_match_offers_to_clear_the_filters(client, admin, tester):
    client.force_login(admin)

    response = client.get(reverse("staff_testers"), {"q": "nobody"})

    assert 'data-testid="no-match"' in response.content.decode()


# --- confirmations, and every action confirms itself ------------------------------------------


def test_revoking_a_token_asks_first_and_only_the_confirmed_post_revokes(client, tester):
    token = token_create(user=tester, name="laptop", scopes=["jobs:read"]).token
    client.force_login(tester)
    url = reverse("token_revoke", args=[token.pk])

    asked = client.get(url)
    posted = client.post(url)
    token.refresh_from_db()
    assert (asked.status_code, posted.status_code, token.revoked_at) == (200, 200, None)
    assert "stops working at once" in asked.content.decode()
    done = client.post(url, {"confirm": "1"}, follow=True)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Token &#x27;laptop&#x27; revoked: it no longer works anywhere." in done.content.decode()
    assert AuditEntry.objects.filter(action="access.token.revoked").count() == 1


def test_the_tokens_page_links_to_the_confirm_step_not_a_revoking_form(client, tester):
    token = token_create(user=tester, name="laptop", scopes=["jobs:read"]).token
    client.force_login(tester)

    html = client.get(reverse("tokens")).content.decode()

    assert f'href="{reverse("token_revoke", args=[token.pk])}"' in html
    assert ApiToken.objects.get().revoked_at is None


def test_reinstating_a_tester_and_a_cohort_confirm_themselves(client, admin, tester, cohort):
    suspend(tester=tester, by=admin, reason="spam")
    client.force_login(admin)

    back = client.post(reverse("staff_tester_action", args=[tester.pk, "reinstate"]), follow=True)
    client.post(
        reverse("staff_containment"),
        {"action": "suspend-cohort", "cohort": cohort.pk, "reason": "leak", "confirm": "1"},
    )
    lifted = client.post(
        reverse("staff_containment"),
        {"action": "reinstate-cohort", "cohort": cohort.pk},
        follow=True,
    )

    assert f"{tester.email} reinstated: access is back." in back.content.decode()
    assert "Test cohort reinstated: its testers can sign in again." in lifted.content.decode()
    assert User.objects.get(pk=tester.pk).standing_now == User.Standing.ACTIVE


def test_a_confirmed_action_without_a_reason_asks_for_one_next_to_the_field(client, admin, tester):
    client.force_login(admin)

    response = client.post(
        reverse("staff_tester_action", args=[tester.pk, "revoke"]), {"confirm": "1", "reason": ""}
    )

    assert response.status_code == 400
    assert '<p class="field-error" id="reason-error">A reason is required' in (
        response.content.decode()
    )
    assert User.objects.get(pk=tester.pk).standing == User.Standing.ACTIVE


def test_reinstating_and_ending_sessions_are_not_reached_by_a_get(client, admin, tester):
    client.force_login(admin)

    response = client.get(reverse("staff_tester_action", args=[tester.pk, "reinstate"]))

    assert response.status_code == 405


def test_the_testers_page_costs_the_same_queries_for_many_testers(
    client, admin, make_user, django_assert_max_num_queries
):
    for number in range(30):
        make_user(f"t{number}@example.com")
    client.force_login(admin)

    with django_assert_max_num_queries(15):
        response = client.get(reverse("staff_testers"))

    assert len(response.context["rows"]) == 30
