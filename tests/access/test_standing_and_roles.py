"""Only testers in good standing use anything; roles are groups and every check reads them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from access.models import User
from access.roles import ADMINS, REVIEWERS, SUBMIT_PERMISSION, TESTERS, can_submit
from access.services import AccessError, token_create
from access.services import tester_reinstate as reinstate
from access.wording import ACCESS_ENDED
from containment.services import tester_suspend as suspend
from generation.models import Job
from generation.services import JobRejected
from tests.conftest import STANDINGS, bearer, run_async, socket_outcome
from tests.factories import submit_job

pytestmark = pytest.mark.django_db


def _suspend(user: User) -> None:
    suspend(tester=user, by=None, reason="shared a video outside the program")


# The cohort's window ended a second ago / suspended through containment / the stored standing.
MAKE_STANDING = {
    "expired": STANDINGS["expired"],
    "suspended": _suspend,
    "revoked": STANDINGS["revoked"],
}


@pytest.mark.parametrize("standing", MAKE_STANDING)
def test_a_tester_out_of_good_standing_is_signed_out_with_a_page_saying_why(
    client, tester, standing
):
    client.force_login(tester)
    MAKE_STANDING[standing](tester)

    response = client.get(reverse("studio"))

    assert response.status_code == 403
    assert ACCESS_ENDED[standing].title in response.content.decode()
    assert "_auth_user_id" not in client.session
    again = client.get(reverse("studio"))
    assert again.status_code == 302 and again.url.startswith(reverse("account_login"))


@pytest.mark.parametrize("standing", MAKE_STANDING)
@pytest.mark.parametrize("page", ["tokens", "terms", "staff_invitations"])
def test_every_page_refuses_a_tester_out_of_good_standing(client, tester, standing, page):
    client.force_login(tester)
    MAKE_STANDING[standing](tester)

    assert client.get(reverse(page)).status_code == 403


@pytest.mark.parametrize("standing", MAKE_STANDING)
def test_the_api_refuses_a_tester_out_of_good_standing_by_session_and_by_token(
    client, tester, standing
):
    token = token_create(user=tester, name="cli", scopes=["jobs:read"]).plaintext
    MAKE_STANDING[standing](tester)

    by_token = client.get(reverse("api_jobs"), headers=bearer(token))
    client.force_login(tester)
    by_session = client.get(reverse("api_jobs"))

    assert by_token.status_code == 401
    assert by_token.json()["detail"] == "This account's access has ended."
    assert by_session.status_code == 403


@pytest.mark.parametrize("standing", MAKE_STANDING)
def test_job_submit_refuses_a_tester_out_of_good_standing(tester, standing):
    MAKE_STANDING[standing](tester)
    tester.refresh_from_db()

    with pytest.raises(JobRejected, match="This account cannot submit jobs"):
        submit_job(tester)

    assert not Job.objects.exists()


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("standing", MAKE_STANDING)
def test_the_studio_socket_refuses_a_tester_out_of_good_standing(tester, standing):
    MAKE_STANDING[standing](tester)
    tester.refresh_from_db()

    connected, code, messages = run_async(lambda: socket_outcome("/ws/studio/", tester))

    assert connected is False
    assert code == 4403 and messages[-1]["type"] == "access_ended"


def test_a_cohort_that_has_not_started_yet_gives_no_access(tester):
    tester.cohort.starts_at = timezone.now() + timedelta(days=1)
    tester.cohort.ends_at = timezone.now() + timedelta(days=2)
    tester.cohort.save()

    assert tester.standing_now == User.Standing.EXPIRED


def test_reinstating_a_suspended_tester_restores_access(client, admin, tester, dispatched):
    suspend(tester=tester, by=admin, reason="looking into a report")

    reinstate(tester=tester, by=admin, reason="report was unfounded")

    tester.refresh_from_db()
    assert (tester.standing, tester.standing_reason) == ("active", "report was unfounded")
    client.force_login(tester)
    assert client.get(reverse("studio")).status_code == 200
    assert submit_job(tester).state == Job.State.QUEUED


def test_a_revoked_tester_cannot_be_reinstated_or_suspended(admin, tester):
    STANDINGS["revoked"](tester)

    for change in (reinstate, suspend):
        with pytest.raises(AccessError, match="revoked tester cannot be changed"):
            change(tester=tester, by=admin, reason="second chance")

    assert User.objects.get(pk=tester.pk).standing == User.Standing.REVOKED


def test_staff_standing_is_not_changed_by_these_services(admin, reviewer):
    for change in (suspend, reinstate):
        with pytest.raises(AccessError, match="Staff accounts are managed in the admin"):
            change(tester=reviewer, by=admin, reason="no")

    assert User.objects.get(pk=reviewer.pk).standing == User.Standing.ACTIVE


def test_suspending_needs_a_reason(admin, tester):
    with pytest.raises(AccessError, match="A reason is required"):
        suspend(tester=tester, by=admin, reason="  ")

    assert User.objects.get(pk=tester.pk).standing == User.Standing.ACTIVE


@pytest.mark.parametrize("role", ["other_tester", "reviewer"])
def test_only_access_managers_change_standing(request, tester, role):
    by = request.getfixturevalue(role)

    with pytest.raises(PermissionDenied):
        suspend(tester=tester, by=by, reason="I do not like them")

    assert User.objects.get(pk=tester.pk).standing == User.Standing.ACTIVE


def test_staff_suspend_and_reinstate_from_the_testers_page(client, admin, tester):
    client.force_login(admin)

    said = client.post(
        reverse("staff_tester_action", args=[tester.pk, "suspend"]),
        {"reason": "spam", "confirm": "1"},
        follow=True,
    ).content.decode()
    suspended = User.objects.get(pk=tester.pk)
    page = client.get(reverse("staff_testers")).content.decode()
    back = client.post(
        reverse("staff_tester_action", args=[tester.pk, "reinstate"]), follow=True
    ).content.decode()

    assert (suspended.standing, suspended.standing_reason) == ("suspended", "spam")
    assert "suspended" in page and "spam" in page
    assert User.objects.get(pk=tester.pk).standing == User.Standing.ACTIVE
    # Each action confirms itself in words (it once read "suspendd", and reinstate said nothing).
    assert f"{tester.email} suspended. Ended 0 sessions;" in said
    assert f"{tester.email} reinstated: access is back." in back


def test_the_testers_page_shows_an_expired_tester_as_expired(client, admin, tester):
    STANDINGS["expired"](tester)
    client.force_login(admin)

    page = client.get(reverse("staff_testers"))

    assert [t.standing_now for t in page.context["testers"]] == ["expired"]


# --- roles -----------------------------------------------------------------------------------

PERMISSIONS = (
    "generation.submit_job",
    "review.moderate_output",
    "access.change_invitation",
    "access.view_auditentry",
)
# role -> the permissions above it holds, in order
ROLE_MATRIX = {
    "tester": (True, False, False, False),
    "red_teamer": (True, False, False, False),
    "reviewer": (False, True, False, False),
    "admin": (False, False, True, True),
}


@pytest.mark.parametrize("role", ROLE_MATRIX)
def test_each_role_holds_exactly_its_permissions(request, role):
    user = request.getfixturevalue(role)

    assert tuple(user.has_perm(p) for p in PERMISSIONS) == ROLE_MATRIX[role]
    assert not user.user_permissions.exists()  # all of it comes from the group


def test_roles_are_the_three_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= {TESTERS, REVIEWERS, ADMINS}


def test_a_red_teamer_is_a_tester_in_a_red_team_cohort(tester, red_teamer):
    assert red_teamer.is_red_teamer and not tester.is_red_teamer
    assert red_teamer.groups.get().name == TESTERS


def test_leaving_the_admins_group_closes_the_staff_pages(client, admin):
    client.force_login(admin)
    assert client.get(reverse("staff_invitations")).status_code == 200

    admin.groups.clear()

    assert client.get(reverse("staff_invitations")).status_code == 403


def test_granting_the_admins_group_opens_them(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("staff_testers")).status_code == 403

    reviewer.groups.add(Group.objects.get(name=ADMINS))

    assert client.get(reverse("staff_testers")).status_code == 200


def test_a_cohort_member_outside_the_testers_group_cannot_submit(tester):
    tester.groups.clear()
    tester = User.objects.get(pk=tester.pk)  # permissions are cached per instance

    with pytest.raises(JobRejected, match="not a tester"):
        submit_job(tester)


@pytest.mark.parametrize(
    "grant",
    ["tester", "direct_permission", "superuser", "reviewer", "inactive_tester", "no_role"],
)
def test_the_one_query_submit_check_agrees_with_has_perm(request, tester, grant):
    """`can_submit` reads the permission in one query; it must answer as Django's backends do."""
    user = request.getfixturevalue("reviewer") if grant == "reviewer" else tester
    if grant in ("direct_permission", "no_role", "superuser"):
        tester.groups.clear()
    if grant == "direct_permission":
        tester.user_permissions.add(Permission.objects.get(codename="submit_job"))
    if grant == "superuser":
        User.objects.filter(pk=tester.pk).update(is_superuser=True)
    if grant == "inactive_tester":
        User.objects.filter(pk=tester.pk).update(is_active=False)
    user = User.objects.get(pk=user.pk)  # permissions are cached per instance

    expected = grant in ("tester", "direct_permission", "superuser")
    assert can_submit(user) is expected and user.has_perm(SUBMIT_PERMISSION) is expected
