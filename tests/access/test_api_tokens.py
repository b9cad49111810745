"""Personal API tokens: issued once, stored as an HMAC digest, scoped per endpoint, revocable."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from access.models import ApiToken, AuditEntry
from access.services import AccessError, token_create, token_revoke
from containment.api import urls as containment_api_urls
from containment.services import tester_suspend as suspend
from generation.api import urls as generation_api_urls
from generation.models import Job
from review.api import urls as review_api_urls
from tests.api.test_permissions import CALLS as API_CALLS
from tests.conftest import bearer
from tests.factories import make_job

pytestmark = pytest.mark.django_db

# every scope a tester may hold
SCOPES = "jobs:read, jobs:write, outputs:read, outputs:write, webhooks:read, webhooks:write"

JOB = {"model": "demo", "prompt": "a paper boat", "num_frames": 5, "width": 32, "height": 32}


def _issue(user, *scopes: str, **kwargs) -> str:
    return token_create(
        user=user, name="laptop", scopes=scopes or ["jobs:read"], **kwargs
    ).plaintext


# --- creating ---------------------------------------------------------------------------------


def test_a_new_token_is_recognisable_and_stored_only_as_an_hmac_digest(tester):
    issued = token_create(user=tester, name="laptop", scopes=["jobs:read"])

    prefix, secret = issued.plaintext.removeprefix("vern_").split("_", 1)
    assert issued.plaintext.startswith("vern_") and len(secret) >= 43
    row = ApiToken.objects.get()
    assert row.prefix == prefix
    pepper = settings.API_TOKEN_PEPPER.encode()
    assert row.digest == hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
    assert row.digest != hashlib.sha256(secret.encode()).hexdigest()  # keyed, not a bare hash
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM access_apitoken")
        stored = repr(cursor.fetchall())
    assert secret not in stored and issued.plaintext not in stored


def test_a_token_expires_in_30_days_by_default_and_at_most_90(tester):
    default = token_create(user=tester, name="a", scopes=["jobs:read"]).token
    longest = token_create(user=tester, name="b", scopes=["jobs:read"], days=90).token

    in_days = [(t.expires_at - timezone.now()).total_seconds() / 86400 for t in (default, longest)]
    assert [round(d) for d in in_days] == [30, 90]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"days": 91}, "Expiry must be between 1 and 90 days."),
        ({"days": 0}, "Expiry must be between 1 and 90 days."),
        ({"scopes": []}, f"Choose scopes from {SCOPES} (none given)."),
        ({"scopes": ["jobs:read", "admin:all"]}, f"Choose scopes from {SCOPES} (admin:all)."),
        ({"name": "   "}, "Give the token a name of 1 to 80 characters."),
        ({"name": "n" * 81}, "Give the token a name of 1 to 80 characters."),
    ],
)
def test_bad_token_requests_are_refused_with_a_clear_message(tester, changes, message):
    with pytest.raises(AccessError) as refusal:
        token_create(user=tester, **{"name": "laptop", "scopes": ["jobs:read"], **changes})

    assert str(refusal.value) == message
    assert not ApiToken.objects.exists()


def test_a_suspended_tester_cannot_create_tokens(tester):
    suspend(tester=tester, by=None, reason="paused")
    tester.refresh_from_db()

    with pytest.raises(PermissionDenied):
        _issue(tester)


def test_the_token_page_shows_a_new_token_once(client, tester):
    client.force_login(tester)

    created = client.post(
        reverse("tokens"), {"name": "ci", "scopes": ["jobs:read", "jobs:write"], "days": 7}
    )
    later = client.get(reverse("tokens"))

    plaintext = created.context["issued"].plaintext
    assert plaintext in created.content.decode()
    assert plaintext not in later.content.decode()
    assert f"vern_{ApiToken.objects.get().prefix}_" in later.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"days": 91}, "days", "less than or equal to 90"),
        ({"scopes": ["root"]}, "scopes", "Select a valid choice"),
    ],
)
def test_the_token_page_refuses_bad_requests_with_a_field_error(
    client, tester, data, field, message
):
    client.force_login(tester)

    response = client.post(reverse("tokens"), {"name": "ci", "scopes": ["jobs:read"], **data})

    assert message in " ".join(response.context["form"].errors[field])
    assert not ApiToken.objects.exists()


# --- using ------------------------------------------------------------------------------------

SCOPES = {
    "jobs:read": ["jobs:read"],
    "jobs:write": ["jobs:write"],
    "outputs:read": ["outputs:read"],
    "jobs:read+write": ["jobs:read", "jobs:write"],
    "all": ["jobs:read", "jobs:write", "outputs:read"],
}
API_PATTERNS = (
    generation_api_urls.urlpatterns + review_api_urls.urlpatterns + containment_api_urls.urlpatterns
)
# endpoint -> (url name, method, the scope it needs, status for a tester's token holding it)
ENDPOINTS = {
    "list jobs": ("api_jobs", "get", "jobs:read", 200),
    "submit job": ("api_jobs", "post", "jobs:write", 201),
    "get job": ("api_job", "get", "jobs:read", 200),
    "cancel job": ("api_job_cancel", "post", "jobs:write", 200),
    "review queue": ("api_review_queue", "get", "outputs:read", 403),  # reviewers only
}


# A signed download link is its own credential: no token, so no scope (tests/api/test_outputs.py).
SCOPELESS = {"api_download"}


def test_every_api_endpoint_has_a_row_in_a_scope_matrix():
    """This one, or the newer endpoints' matrix in tests/api (every persona, every scope)."""
    names = {pattern.name for pattern in API_PATTERNS}
    elsewhere = {call.name for call in API_CALLS}

    assert names == {name for name, *_ in ENDPOINTS.values()} | elsewhere | SCOPELESS


def _arguments(name: str) -> set[str]:
    pattern = next(p for p in API_PATTERNS if p.name == name)
    return set(pattern.pattern.converters)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("scopes", SCOPES)
def test_token_scope_matrix(client, tester, dispatched, scopes, endpoint):
    job = make_job(tester)
    name, method, needed, ok_status = ENDPOINTS[endpoint]
    url = reverse(name, kwargs={"job_id": job.id} if "job_id" in _arguments(name) else {})
    token = _issue(tester, *SCOPES[scopes])

    response = getattr(client, method)(
        url,
        JOB if method == "post" else None,
        content_type="application/json",
        headers=bearer(token),
    )

    if needed in SCOPES[scopes]:
        assert response.status_code == ok_status, response.content
    else:
        assert response.status_code == 403
        assert response.json()["detail"] == f"This token lacks the scope '{needed}'."
        assert list(Job.objects.values_list("state", flat=True)) == [Job.State.QUEUED]


@pytest.mark.parametrize(("scopes", "status"), [(["outputs:read"], 200), (["jobs:read"], 403)])
def test_a_reviewers_token_reads_the_review_queue_only_with_outputs_read(
    client, reviewer, scopes, status
):
    token = _issue(reviewer, *scopes)

    response = client.get(reverse("api_review_queue"), headers=bearer(token))

    assert response.status_code == status


def test_a_token_submits_a_job_for_its_owner(client, tester, dispatched):
    token = _issue(tester, "jobs:write")

    response = client.post(
        reverse("api_jobs"), JOB, content_type="application/json", headers=bearer(token)
    )

    assert response.status_code == 201
    assert Job.objects.get(pk=response.json()["id"]).owner == tester


def test_a_token_does_not_see_another_testers_jobs(client, tester, other_tester):
    job = make_job(other_tester)
    token = _issue(tester, "jobs:read")

    detail = client.get(reverse("api_job", kwargs={"job_id": job.id}), headers=bearer(token))
    listing = client.get(reverse("api_jobs"), headers=bearer(token))

    assert detail.status_code == 404
    assert listing.json()["results"] == []


def test_the_scheme_name_is_case_insensitive(client, tester):
    token = _issue(tester, "jobs:read")

    response = client.get(reverse("api_jobs"), headers={"authorization": f"bearer {token}"})

    assert response.status_code == 200


def _expire(token: str) -> None:
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


def _revoke(token: str) -> None:
    stored = ApiToken.objects.get()
    token_revoke(token=stored, by=stored.user)


def _suspend_owner(token: str) -> None:
    suspend(tester=ApiToken.objects.get().user, by=None, reason="paused")


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        (_expire, "This API token is expired or revoked."),
        (_revoke, "This API token is expired or revoked."),
        (_suspend_owner, "This account's access has ended."),
        (lambda token: None, None),
    ],
    ids=["expired", "revoked", "owner suspended", "valid (control)"],
)
def test_unusable_tokens_get_401(client, tester, spoil, detail):
    token = _issue(tester, "jobs:read")
    spoil(token)

    response = client.get(reverse("api_jobs"), headers=bearer(token))

    if detail is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert response.json()["detail"] == detail
        assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "credential",
    ["vern_000000000000_nothing", "PREFIX_WITH_WRONG_SECRET", "not-a-token", "", "vern_"],
)
def test_unknown_tokens_get_401(client, tester, credential):
    real = _issue(tester, "jobs:read")
    if credential == "PREFIX_WITH_WRONG_SECRET":
        credential = real[: real.rindex("_") + 1] + "x" * 43

    response = client.get(reverse("api_jobs"), headers=bearer(credential))

    assert response.status_code == 401


def test_last_use_time_and_address_are_recorded(client, tester):
    token = _issue(tester, "jobs:read")
    assert ApiToken.objects.get().last_used_at is None

    client.get(reverse("api_jobs"), headers=bearer(token), REMOTE_ADDR="198.51.100.4")

    used = ApiToken.objects.get()
    assert used.last_used_ip == "198.51.100.4"
    assert timezone.now() - used.last_used_at < timedelta(seconds=5)


def test_last_use_is_written_once_a_minute_per_address(client, tester):
    token = _issue(tester, "jobs:read")
    client.get(reverse("api_jobs"), headers=bearer(token), REMOTE_ADDR="198.51.100.4")
    first = ApiToken.objects.get().last_used_at

    client.get(reverse("api_jobs"), headers=bearer(token), REMOTE_ADDR="198.51.100.4")
    assert ApiToken.objects.get().last_used_at == first  # the same minute, the same address

    client.get(reverse("api_jobs"), headers=bearer(token), REMOTE_ADDR="203.0.113.9")
    moved = ApiToken.objects.get()
    assert moved.last_used_ip == "203.0.113.9" and moved.last_used_at > first

    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    client.get(reverse("api_jobs"), headers=bearer(token), REMOTE_ADDR="203.0.113.9")
    assert ApiToken.objects.get().last_used_at > first


def test_a_token_does_not_open_the_html_pages(client, tester):
    token = _issue(tester, "jobs:read", "jobs:write", "outputs:read")

    response = client.get(reverse("studio"), headers=bearer(token))

    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))


def test_session_requests_from_the_studio_are_not_scope_limited(client, tester, dispatched):
    client.force_login(tester)

    assert client.get(reverse("api_jobs")).status_code == 200
    assert client.post(reverse("api_jobs"), JOB, content_type="application/json").status_code == 201


# --- revoking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status", "revoked"),
    [
        ("tester", 302, True),
        ("admin", 302, True),
        ("other_tester", 404, False),  # someone else's token looks like no token at all
        ("reviewer", 404, False),
    ],
)
def test_a_token_is_revoked_by_its_owner_or_an_admin_only(
    client, request, tester, role, status, revoked
):
    token = _issue(tester, "jobs:read")
    person = request.getfixturevalue(role)
    client.force_login(person)

    response = client.post(
        reverse("token_revoke", args=[ApiToken.objects.get().pk]), {"confirm": "1"}
    )

    assert response.status_code == status
    assert (ApiToken.objects.get().revoked_at is not None) is revoked
    client.logout()
    still_works = client.get(reverse("api_jobs"), headers=bearer(token)).status_code == 200
    assert still_works is not revoked
    entries = AuditEntry.objects.filter(action="access.token.revoked")
    assert [e.actor for e in entries] == ([person] if revoked else [])


def test_revoking_twice_records_one_revocation(tester):
    _issue(tester)
    stored = ApiToken.objects.get()
    token_revoke(token=stored, by=tester)
    first_time = ApiToken.objects.get().revoked_at

    token_revoke(token=stored, by=tester)

    assert ApiToken.objects.get().revoked_at == first_time
    assert AuditEntry.objects.filter(action="access.token.revoked").count() == 1


def test_another_tester_cannot_revoke_through_the_service(tester, other_tester):
    _issue(tester)

    with pytest.raises(PermissionDenied):
        token_revoke(token=ApiToken.objects.get(), by=other_tester)
