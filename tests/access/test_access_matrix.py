"""Every access page and API endpoint against every role, as one table.

A new URL in `access.urls` or the API without a row here fails `test_every_endpoint_has_a_row`.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from access import urls as access_urls
from access.models import ApiToken, Invitation, User
from access.services import invitation_create, token_create
from containment.services import tester_suspend as suspend
from generation.api import urls as api_urls
from generation.models import Job
from review.api import urls as review_api_urls
from tests.factories import make_job

pytestmark = pytest.mark.django_db

LOGIN = "login"  # a redirect to the sign-in page
ROLES = ("anonymous", "tester", "red_teamer", "reviewer", "admin", "suspended")

# (url name, method) -> expected status per role, in the order of ROLES
MATRIX = {
    ("invitation_open", "get"): (302, 302, 302, 302, 302, 403),
    ("terms", "get"): (LOGIN, 200, 200, 200, 200, 403),
    ("tokens", "get"): (LOGIN, 200, 200, 200, 200, 403),
    ("token_revoke", "post"): (LOGIN, 302, 403, 403, 302, 403),
    ("staff_invitations", "get"): (LOGIN, 403, 403, 403, 200, 403),
    ("staff_invitation_action", "post"): (LOGIN, 403, 403, 403, 302, 403),
    ("staff_testers", "get"): (LOGIN, 403, 403, 403, 200, 403),
    ("staff_tester_action", "post"): (LOGIN, 403, 403, 403, 302, 403),
    ("staff_audit", "get"): (LOGIN, 403, 403, 403, 200, 403),
    ("staff_containment", "get"): (LOGIN, 403, 403, 403, 200, 403),
    ("api_jobs", "get"): (401, 200, 200, 200, 200, 403),
    ("api_jobs", "post"): (401, 201, 201, 400, 400, 403),  # staff are not testers
    ("api_job", "get"): (401, 200, 404, 200, 404, 403),  # the tester's job
    ("api_job_cancel", "post"): (401, 200, 404, 200, 404, 403),
    ("api_review_queue", "get"): (401, 403, 403, 200, 403, 403),
}


def test_every_endpoint_has_a_row():
    names = {p.name for p in access_urls.urlpatterns + api_urls.urlpatterns}
    names |= {p.name for p in review_api_urls.urlpatterns}

    assert names == {name for name, _method in MATRIX}


@pytest.fixture
def world(tester, other_tester, red_teamer, reviewer, admin, make_user, cohort):
    suspended = make_user("sam@example.com")
    suspend(tester=suspended, by=admin, reason="matrix")
    return {
        "people": {
            "anonymous": None,
            "tester": tester,
            "red_teamer": red_teamer,
            "reviewer": reviewer,
            "admin": admin,
            "suspended": User.objects.get(pk=suspended.pk),
        },
        "invitation": invitation_create(email="new@example.com", invited_by=admin, cohort=cohort),
        "token": token_create(user=tester, name="cli", scopes=["jobs:read"]).token,
        "job": make_job(tester),
        "target": other_tester,
    }


def _request(client, world, name: str, method: str):
    kwargs = {
        "invitation_open": {"code": world["invitation"].code},
        "token_revoke": {"token_id": world["token"].pk},
        "staff_invitation_action": {
            "invitation_id": world["invitation"].invitation.pk,
            "action": "revoke",
        },
        "staff_tester_action": {"user_id": world["target"].pk, "action": "suspend"},
        "api_job": {"job_id": world["job"].id},
        "api_job_cancel": {"job_id": world["job"].id},
    }.get(name, {})
    data = {"model": "demo", "prompt": "a lantern"} if name == "api_jobs" else {"reason": "x"}
    if method == "get":
        return client.get(reverse(name, kwargs=kwargs))
    return client.post(reverse(name, kwargs=kwargs), data, content_type="application/json")


def _nothing_changed(world) -> bool:
    return (
        Invitation.objects.get().state == Invitation.State.PENDING
        and ApiToken.objects.get().revoked_at is None
        and User.objects.get(pk=world["target"].pk).standing == User.Standing.ACTIVE
        and list(Job.objects.values_list("state", flat=True)) == [Job.State.QUEUED]
    )


@pytest.mark.parametrize(("name", "method"), MATRIX)
@pytest.mark.parametrize("role", ROLES)
def test_access_permission_matrix(client, world, dispatched, name, method, role):
    person = world["people"][role]
    if person is not None:
        client.force_login(person)

    response = _request(client, world, name, method)

    want = MATRIX[name, method][ROLES.index(role)]
    if want == LOGIN:
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    else:
        assert response.status_code == want, getattr(response, "content", b"")[:300]
    if want in (LOGIN, 401, 403, 404, 400) or method == "get":
        assert _nothing_changed(world)
