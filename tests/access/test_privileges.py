"""Privilege boundaries: nobody below a superuser changes a staff account, nobody changes their own
roles, every role change is audited, and 2FA and containment hold on every door (sockets included).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from access.models import AuditEntry, User
from access.roles import REVIEWERS
from access.services import token_create
from containment.services import tester_revoke as revoke
from containment.services import tester_suspend as suspend
from review.models import Output
from tests.conftest import run_async, socket_outcome, totp_enable
from tests.factories import make_job, make_output

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Taken-Over-123"


def _change_url(user: User) -> str:
    return reverse("admin:access_user_change", args=[user.pk])


def _form_data(user: User, **changes) -> dict:
    """What the admin's user change form posts for `user`, with `changes` applied."""
    data = {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": user.display_name,
        "cohort": user.cohort_id or "",
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# --- the admin: staff accounts are a superuser's ------------------------------------------------


def test_an_admin_cannot_set_a_superusers_password(client, admin, superuser):
    client.force_login(admin)
    url = reverse("admin:auth_user_password_change", args=[superuser.pk])

    page = client.get(url)
    posted = client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert (page.status_code, posted.status_code) == (403, 403)
    superuser.refresh_from_db()
    assert not superuser.check_password(NEW_PASSWORD)


def test_an_admin_cannot_change_another_staff_account(client, admin, reviewer):
    client.force_login(admin)

    response = client.post(_change_url(reviewer), _form_data(reviewer, display_name="owned"))

    assert response.status_code == 403
    reviewer.refresh_from_db()
    assert reviewer.display_name != "owned"


def test_an_admin_cannot_grant_itself_the_reviewers_role(client, admin):
    client.force_login(admin)
    reviewers = Group.objects.get(name=REVIEWERS)
    groups = [str(group.pk) for group in admin.groups.all()] + [str(reviewers.pk)]

    response = client.post(_change_url(admin), _form_data(admin, groups=groups))

    assert response.status_code == 403
    assert not admin.groups.filter(name=REVIEWERS).exists()


def test_an_admin_edits_a_tester_but_cannot_make_them_staff(client, admin, tester):
    client.force_login(admin)
    reviewers = Group.objects.get(name=REVIEWERS)

    response = client.post(
        _change_url(tester),
        _form_data(
            tester,
            display_name="Ada L.",
            is_staff="on",
            is_superuser="on",
            groups=[str(reviewers.pk)],
        ),
    )

    assert response.status_code == 302
    tester.refresh_from_db()
    assert tester.display_name == "Ada L."
    assert not (tester.is_staff or tester.is_superuser)
    assert not tester.groups.filter(name=REVIEWERS).exists()


def test_a_superuser_changes_a_role_and_the_change_is_audited_with_before_and_after(
    client, superuser, tester
):
    client.force_login(superuser)
    reviewers = Group.objects.get(name=REVIEWERS)
    groups = [str(group.pk) for group in tester.groups.all()] + [str(reviewers.pk)]

    response = client.post(_change_url(tester), _form_data(tester, groups=groups, is_staff="on"))

    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="access.user.roles_changed")
    assert entry.actor == superuser and entry.target_id == str(tester.pk)
    assert entry.details["before"]["groups"] == ["Testers"]
    assert entry.details["after"]["groups"] == ["Reviewers", "Testers"]
    assert (entry.details["before"]["is_staff"], entry.details["after"]["is_staff"]) == (
        False,
        True,
    )


def test_not_even_a_superuser_changes_their_own_roles(client, superuser):
    client.force_login(superuser)
    reviewers = Group.objects.get(name=REVIEWERS)

    client.post(_change_url(superuser), _form_data(superuser, groups=[str(reviewers.pk)]))

    assert not superuser.groups.filter(name=REVIEWERS).exists()
    assert not AuditEntry.objects.filter(action="access.user.roles_changed").exists()


# --- 2FA on every door ------------------------------------------------------------------------


def _socket(path: str, user: User):
    return run_async(lambda: socket_outcome(path, user))


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/review/", "/ws/studio/", "job"])
def test_staff_without_2fa_get_no_socket(staff_without_mfa, tester, path):
    if path == "job":
        path = f"/ws/jobs/{make_job(tester).id}/"

    connected, code, messages = _socket(path, staff_without_mfa)

    assert (connected, code) == (False, 4403)
    assert not any(message["type"] == "snapshot" for message in messages)


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_staff_with_2fa_get_their_sockets(staff_without_mfa, tester):
    totp_enable(staff_without_mfa)

    for path in ("/ws/review/", f"/ws/jobs/{make_job(tester).id}/"):
        connected, code, _messages = _socket(path, staff_without_mfa)
        assert (connected, code) == (True, None), path


def test_staff_without_2fa_are_refused_by_the_api(client, staff_without_mfa, tester):
    client.force_login(staff_without_mfa)

    response = client.get(reverse("api_job", kwargs={"job_id": make_job(tester).id}))

    assert response.status_code == 403


# --- a contained owner's outputs, by id ---------------------------------------------------------


@pytest.mark.parametrize("contain", [suspend, revoke])
@pytest.mark.parametrize("name", ["output_detail", "output_video", "output_poster"])
def test_a_contained_testers_gallery_output_is_gone_by_id_too(
    client, tester, other_tester, outputs_dir, contain, name
):
    output = make_output(tester, state=Output.State.APPROVED)
    Output.objects.filter(pk=output.pk).update(in_gallery=True)
    url = reverse(name, kwargs={"output_id": output.id})
    client.force_login(other_tester)
    before = client.get(url).status_code

    contain(tester=tester, by=None, reason="leaked")

    assert (before, client.get(url).status_code) == (200, 404)


# --- nothing to enumerate -------------------------------------------------------------------------


def test_password_reset_answers_the_same_for_known_and_unknown_addresses(client, tester):
    url = reverse("account_reset_password")

    known = client.post(url, {"email": tester.email})
    unknown = client.post(url, {"email": "nobody-here@example.com"})

    assert known.status_code == unknown.status_code
    assert known.get("Location") == unknown.get("Location")


def test_revoking_someone_elses_token_looks_like_revoking_no_token(client, tester, other_tester):
    theirs = token_create(user=other_tester, name="ci", scopes=["jobs:read"]).token
    client.force_login(tester)

    foreign = client.post(reverse("token_revoke", kwargs={"token_id": theirs.pk}))
    missing = client.post(reverse("token_revoke", kwargs={"token_id": theirs.pk + 999}))

    assert foreign.status_code == missing.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
