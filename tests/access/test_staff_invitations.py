"""Staff invite one by one or in bulk, resend and revoke; an accepted invitation makes a tester."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import Invitation, User
from access.roles import TESTERS
from access.services import AccessError, invitation_create, invitation_resend, invitation_revoke
from tests.access.conftest import SIGNUP_PASSWORD

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+/invite/(?P<code>[\w-]+)/")


@pytest.fixture
def staff_client(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def visitor():
    """A second browser, for the person who receives the invitation."""
    return Client()


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _code_in(mail) -> str:
    return LINK.search(mail.body)["code"]


def _invite_in_bulk(client, capture, **data):
    with capture(execute=True):
        return client.post(reverse("staff_invitations"), {"bulk": "1", **data}, follow=True)


def _accept(client, code: str, *, name: str = "Ada") -> None:
    client.get(reverse("invitation_open", kwargs={"code": code}))
    client.post(
        reverse("account_signup"),
        {"password1": SIGNUP_PASSWORD, "password2": SIGNUP_PASSWORD, "display_name": name},
    )


def test_pasted_lines_invite_the_good_lines_and_report_each_bad_line_by_number(
    staff_client, admin, cohort, mailoutbox, django_capture_on_commit_callbacks
):
    lines = "\n".join(
        [
            "ada@example.com",
            "not-an-email,Test cohort",
            "bob@example.com,Test cohort,Bob B",
            "cyd@example.com,Nowhere",
        ]
    )

    response = _invite_in_bulk(
        staff_client, django_capture_on_commit_callbacks, cohort=cohort.pk, lines=lines
    )

    assert _messages(response) == [
        "Invited 2 people; 2 lines could not be invited: see the list by the box below."
    ]
    assert response.context["bulk_errors"] == [
        "line 2: 'not-an-email' is not a valid email address.",
        "line 4: unknown cohort 'Nowhere'",
    ]
    invited = Invitation.objects.order_by("email")
    assert [(i.email, i.cohort, i.name, i.invited_by) for i in invited] == [
        ("ada@example.com", cohort, "", admin),
        ("bob@example.com", cohort, "Bob B", admin),
    ]
    assert sorted(mail.to[0] for mail in mailoutbox) == ["ada@example.com", "bob@example.com"]


def test_an_uploaded_csv_with_a_header_and_a_bad_row_invites_the_good_rows(
    staff_client, cohort, mailoutbox, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile(
        "invites.csv",
        "email,cohort,name\r\nada@example.com,Test cohort,Ada L\r\nbroken@,Test cohort,X\r\n"
        "bob@example.com,test COHORT\r\n".encode("utf-8-sig"),
        content_type="text/csv",
    )

    response = _invite_in_bulk(staff_client, django_capture_on_commit_callbacks, csv_file=upload)

    assert _messages(response) == [
        "Invited 2 people; 1 line could not be invited: see the list by the box below."
    ]
    assert response.context["bulk_errors"] == ["line 3: 'broken@' is not a valid email address."]
    assert set(Invitation.objects.values_list("email", "name", "cohort")) == {
        ("ada@example.com", "Ada L", cohort.pk),
        ("bob@example.com", "", cohort.pk),
    }
    assert len(mailoutbox) == 2


def test_a_bulk_line_without_any_cohort_is_reported_not_invited(
    staff_client, cohort, django_capture_on_commit_callbacks
):
    response = _invite_in_bulk(
        staff_client,
        django_capture_on_commit_callbacks,
        lines="ada@example.com\nbob@example.com,Test cohort",
    )

    assert response.context["bulk_errors"][0].startswith("line 1: no cohort")
    assert list(Invitation.objects.values_list("email", flat=True)) == ["bob@example.com"]


def test_an_empty_bulk_form_explains_what_it_needs(staff_client):
    response = staff_client.post(reverse("staff_invitations"), {"bulk": "1", "lines": "  "})

    assert response.status_code == 400
    assert "Paste some lines or choose a CSV file." in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_second_pending_invitation_for_the_same_email_is_refused_with_a_message(
    staff_client, cohort, django_capture_on_commit_callbacks
):
    single = {"single": "1", "email": "ada@example.com", "cohort": cohort.pk, "name": ""}
    staff_client.post(reverse("staff_invitations"), single)

    again = staff_client.post(reverse("staff_invitations"), {**single, "email": "ADA@example.com"})
    in_bulk = _invite_in_bulk(
        staff_client, django_capture_on_commit_callbacks, lines="ada@example.com,Test cohort"
    )

    assert again.status_code == 200
    assert "already has a pending invitation" in " ".join(again.context["single"].errors["email"])
    assert in_bulk.context["bulk_errors"][0].startswith("line 1: ada@example.com already has a")
    assert Invitation.objects.count() == 1


def test_an_expired_pending_invitation_does_not_block_a_new_one(admin, cohort):
    first = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort, send=False)
    Invitation.objects.filter(pk=first.invitation.pk).update(expires_at=timezone.now())

    second = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort, send=False)

    assert second.invitation.pk != first.invitation.pk


def test_resend_issues_a_new_link_refreshes_the_expiry_and_sends_it(
    staff_client, visitor, admin, cohort, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        issued = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)
    Invitation.objects.filter(pk=issued.invitation.pk).update(
        expires_at=timezone.now() + timedelta(hours=1)
    )
    url = reverse("staff_invitation_action", args=[issued.invitation.pk, "resend"])

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url)

    invitation = Invitation.objects.get()
    assert len(mailoutbox) == 2 and mailoutbox[1].to == ["ada@example.com"]
    new_code = _code_in(mailoutbox[1])
    assert _code_in(mailoutbox[0]) == issued.code != new_code
    assert invitation.expires_at > timezone.now() + timedelta(days=13, hours=23)
    assert invitation.sent_count == 2
    assert visitor.get(reverse("invitation_open", args=[issued.code])).status_code == 404
    opened = visitor.get(reverse("invitation_open", args=[new_code]))
    assert opened.status_code == 200 and "invitation-accept" in opened.content.decode()


def test_revoke_withdraws_the_link_and_cannot_be_repeated(
    staff_client, visitor, admin, cohort, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        issued = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)
    url = reverse("staff_invitation_action", args=[issued.invitation.pk, "revoke"])

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url)
        again = staff_client.post(url, follow=True)
        resend = staff_client.post(
            reverse("staff_invitation_action", args=[issued.invitation.pk, "resend"]),
            follow=True,
        )

    assert Invitation.objects.get().state == Invitation.State.REVOKED
    assert "This invitation is revoked; it cannot be revoked." in _messages(again)
    assert "This invitation is revoked; it cannot be resent." in _messages(resend)
    assert len(mailoutbox) == 1  # the first invitation only: the refused resend sent nothing
    opened = visitor.get(reverse("invitation_open", args=[issued.code]))
    assert opened.status_code == 410 and "withdrawn" in opened.content.decode()


def test_an_accepted_invitation_cannot_be_revoked_or_resent(admin, cohort, visitor):
    issued = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)
    _accept(visitor, issued.code)

    with pytest.raises(AccessError, match="accepted; it cannot be revoked"):
        invitation_revoke(invitation=issued.invitation, by=admin)
    with pytest.raises(AccessError, match="accepted; it cannot be resent"):
        invitation_resend(invitation=issued.invitation, by=admin)


def test_an_accepted_invitation_puts_the_new_account_in_its_cohort_and_the_testers_group(
    client, admin, cohort
):
    issued = invitation_create(
        email="ada@example.com", invited_by=admin, cohort=cohort, name="Ada L"
    )

    _accept(client, issued.code, name="")

    user = User.objects.get(email="ada@example.com")
    assert user.cohort == cohort
    assert list(user.groups.values_list("name", flat=True)) == [TESTERS]
    assert user.has_perm("generation.submit_job")
    assert user.display_name == "Ada L"  # the name staff gave, since they left theirs empty
    assert not user.is_staff


def test_the_staff_page_shows_who_invited_whom_and_whether_it_was_accepted(
    staff_client, visitor, admin, cohort
):
    accepted = invitation_create(email="ada@example.com", invited_by=admin, cohort=cohort)
    invitation_create(email="bob@example.com", invited_by=None, cohort=cohort)
    _accept(visitor, accepted.code)

    page = staff_client.get(reverse("staff_invitations"))

    rows = {inv.email: inv for inv in page.context["invitations"]}
    assert rows["ada@example.com"].status == "accepted"
    assert rows["ada@example.com"].invited_by == admin
    assert rows["bob@example.com"].status == "pending"
    html = page.content.decode()
    ada_row = html[
        html.index("ada@example.com") : html.index("</tr>", html.index("ada@example.com"))
    ]
    assert "accepted" in ada_row and admin.email in ada_row
    assert f"{Invitation.objects.get(email='ada@example.com').accepted_at:%Y-%m-%d}" in ada_row
    bob_row = html[
        html.index("bob@example.com") : html.index("</tr>", html.index("bob@example.com"))
    ]
    assert "system" in bob_row and "pending" in bob_row


@pytest.mark.parametrize(
    ("url_name", "args", "method"),
    [
        ("staff_invitations", [], "get"),
        ("staff_invitations", [], "post"),
        ("staff_invitation_action", ["INVITATION", "revoke"], "post"),
        ("staff_invitation_action", ["INVITATION", "resend"], "post"),
        ("staff_testers", [], "get"),
        ("staff_tester_action", ["TESTER", "suspend"], "post"),
        ("staff_audit", [], "get"),
    ],
)
@pytest.mark.parametrize("role", ["tester", "reviewer"])
def test_staff_pages_refuse_testers_and_reviewers(
    client, request, tester, cohort, url_name, args, method, role
):
    invitation = invitation_create(email="zoe@example.com", invited_by=None, cohort=cohort)
    ids = {"INVITATION": invitation.invitation.pk, "TESTER": tester.pk}
    client.force_login(request.getfixturevalue(role))

    response = getattr(client, method)(
        reverse(url_name, args=[ids.get(a, a) for a in args]),
        {"single": "1", "email": "x@example.com", "cohort": cohort.pk, "reason": "r"},
    )

    assert response.status_code == 403
    assert Invitation.objects.get().state == Invitation.State.PENDING
    assert Invitation.objects.count() == 1
    assert User.objects.get(pk=tester.pk).standing == User.Standing.ACTIVE
