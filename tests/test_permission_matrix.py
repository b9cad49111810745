"""Who may reach what: every role against every endpoint that touches a job or an output.

Another tester's objects answer 404 (their existence is not disclosed); staff-only pages answer 403;
anonymous visitors are sent to sign in (HTML) or refused (API).
"""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from review.models import Output, ShareLink
from tests.conftest import socket_outcome
from tests.factories import make_output

pytestmark = pytest.mark.django_db

LOGIN = "login"  # a redirect to the sign-in page

# endpoint name -> (method, expected status for: anonymous, owner, other tester, reviewer)
MATRIX = {
    "api_job": ("get", 401, 200, 404, 200),
    "output_detail": ("get", LOGIN, 200, 404, 200),
    "output_video": ("get", LOGIN, 200, 404, 200),
    "output_poster": ("get", LOGIN, 200, 404, 200),
    "output_share": ("post", LOGIN, 302, 404, 403),
    "review_queue": ("get", LOGIN, 403, 403, 200),
    "review_decide": ("post", LOGIN, 403, 403, 302),
}
ROLES = ("anonymous", "owner", "other", "reviewer")


def _url(name: str, output: Output) -> str:
    if name == "api_job":
        return reverse(name, kwargs={"job_id": output.job_id})
    if name == "review_queue":
        return reverse(name)
    return reverse(name, kwargs={"output_id": output.id})


@pytest.fixture
def people(tester, other_tester, reviewer):
    return {"anonymous": None, "owner": tester, "other": other_tester, "reviewer": reviewer}


@pytest.mark.parametrize("name", MATRIX)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client, people, name, role, outputs_dir):
    output = make_output(people["owner"], state=Output.State.APPROVED)
    if people[role]:
        client.force_login(people[role])
    method, *expected = MATRIX[name]

    data = {"decision": "approve"} if name == "review_decide" else {}
    response = getattr(client, method)(_url(name, output), data)

    want = expected[ROLES.index(role)]
    if want == LOGIN:
        assert response.status_code == 302 and "/accounts/login/" in response.url
    else:
        assert response.status_code == want
    if role != "owner":
        assert not ShareLink.objects.exists()


def test_another_testers_job_is_absent_from_their_api_list(
    client, tester, other_tester, outputs_dir
):
    make_output(tester)
    client.force_login(other_tester)

    assert client.get(reverse("api_jobs")).json()["count"] == 0


def test_anonymous_visitors_get_an_approved_output_only_through_its_share_link(
    client, tester, outputs_dir
):
    pending = make_output(tester)
    approved = make_output(tester, state=Output.State.APPROVED)
    client.force_login(tester)
    client.post(reverse("output_share", kwargs={"output_id": approved.id}))
    client.post(reverse("output_share", kwargs={"output_id": pending.id}))
    client.logout()

    token = ShareLink.objects.get().token

    assert ShareLink.objects.get().output == approved
    assert client.get(reverse("shared_video", kwargs={"token": token})).status_code == 200
    for output in (pending, approved):
        response = client.get(reverse("output_video", kwargs={"output_id": output.id}))
        assert response.status_code == 302


async def _connect(path: str, user) -> tuple[bool, int | None]:
    connected, code, _ = await socket_outcome(path, user)
    return connected, code


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("role", "allowed"),
    [("anonymous", False), ("owner", True), ("other", False), ("reviewer", True)],
)
def test_job_progress_socket_matrix(people, role, allowed, outputs_dir):
    output = make_output(people["owner"])
    user = people[role] or AnonymousUser()

    connected, code = asyncio.run(_connect(f"/ws/jobs/{output.job_id}/", user))

    assert connected is allowed
    if not allowed:
        assert code in (4401, 4404)


@pytest.mark.django_db(transaction=True)
def test_a_socket_from_a_foreign_origin_is_refused(tester):
    connected, _, _ = asyncio.run(
        socket_outcome("/ws/studio/", tester, origin=b"https://evil.example")
    )

    assert connected is False


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_studio_socket_is_closed(db):
    connected, code = asyncio.run(_connect("/ws/studio/", AnonymousUser()))

    assert connected is False and code == 4401
