"""The webhooks API and settings pages: who may reach what (owner, another tester, staff,
anonymous, a suspended tester), token scopes, and bad input answered 4xx naming the field."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from access.models import ApiToken
from access.services import token_create
from containment.services import tester_suspend as suspend
from tests.conftest import bearer
from webhooks.models import Delivery, Endpoint, EventType

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

LOGIN = "login"
ROLES = ("anonymous", "owner", "other", "staff", "suspended")
NEW = {"url": "", "events": ["job.started"]}  # the url is the test receiver's

MATRIX = {
    ("api_webhooks", "get"): (401, 200, 200, 200, 403),
    ("api_webhooks", "post"): (401, 201, 201, 201, 403),
    ("api_webhook", "get"): (401, 200, 404, 404, 403),
    ("api_webhook", "patch"): (401, 200, 404, 404, 403),
    ("api_webhook", "delete"): (401, 204, 404, 404, 403),
    ("api_webhook_rotate", "post"): (401, 200, 404, 404, 403),
    ("api_webhook_deliveries", "get"): (401, 200, 404, 404, 403),
    ("api_webhook_replay", "post"): (401, 202, 404, 404, 403),
    ("webhooks", "get"): (LOGIN, 200, 200, 200, 403),
    ("webhooks", "post"): (LOGIN, 200, 200, 200, 403),
    ("webhook_detail", "get"): (LOGIN, 200, 404, 404, 403),
    ("webhook_detail", "post"): (LOGIN, 302, 404, 404, 403),
    ("webhook_rotate", "post"): (LOGIN, 200, 404, 404, 403),
    ("webhook_delete", "post"): (LOGIN, 302, 404, 404, 403),
    ("webhook_replay", "post"): (LOGIN, 302, 404, 404, 403),
}


@pytest.fixture
def people(tester, other_tester, reviewer, admin, make_user) -> dict:
    suspended = make_user("sam@example.com")
    suspend(tester=suspended, by=admin, reason="matrix")
    return {"owner": tester, "other": other_tester, "staff": reviewer, "suspended": suspended}


@pytest.fixture
def world(people, endpoint_for) -> tuple[Endpoint, Delivery]:
    endpoint = endpoint_for(people["owner"]).endpoint
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        message_id="msg_1",
        event_type=EventType.JOB_FAILED,
        body="{}",
        state=Delivery.State.FAILED,
        attempts=1,
    )
    return endpoint, delivery


def _request(client, name: str, method: str, world, receiver_url: str):
    endpoint, delivery = world
    kwargs = {}
    if name not in ("api_webhooks", "webhooks"):
        kwargs["endpoint_id"] = endpoint.id
    if name.endswith("replay"):
        kwargs["delivery_id"] = delivery.id
    url = reverse(name, kwargs=kwargs)
    if name.startswith("api_"):
        body = {"enabled": False} if method == "patch" else {**NEW, "url": receiver_url}
        data = json.dumps(body) if method in ("post", "patch") else None
        return getattr(client, method)(url, data=data, content_type="application/json")
    form = {"url": receiver_url, "events": ["job.started"], "enabled": "on"}
    return getattr(client, method)(url, form if method == "post" else None)


@pytest.mark.parametrize(("name", "method"), list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_the_permission_matrix(client, people, world, receiver, role, name, method):
    if role != "anonymous":
        client.force_login(people[role])
    endpoint = world[0]
    before = (endpoint.url, endpoint.enabled, endpoint.secret_encrypted)

    response = _request(client, name, method, world, receiver.url)

    want = MATRIX[name, method][ROLES.index(role)]
    if want == LOGIN:
        assert response.status_code == 302 and "/accounts/login/" in response["location"]
    else:
        assert response.status_code == want, response.content[:300]
    if role != "owner":  # nobody but the owner changes, deletes or replays the owner's endpoint
        endpoint.refresh_from_db()
        assert (endpoint.url, endpoint.enabled, endpoint.secret_encrypted) == before
        assert Delivery.objects.filter(endpoint=endpoint).count() == 1


def test_listing_shows_only_my_own_endpoints(client, people, world):
    client.force_login(people["other"])

    assert client.get(reverse("api_webhooks")).json()["count"] == 0


def test_the_secret_is_shown_at_creation_and_never_again(signed_in, receiver, loopback_allowed):
    created = signed_in.post(
        reverse("api_webhooks"), {**NEW, "url": receiver.url}, content_type="application/json"
    )
    endpoint_id = created.json()["id"]

    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    shown = signed_in.get(reverse("api_webhook", kwargs={"endpoint_id": endpoint_id})).json()
    listed = signed_in.get(reverse("api_webhooks")).json()["results"]
    assert "secret" not in shown and all("secret" not in each for each in listed)


def test_rotation_returns_a_new_secret(signed_in, tester, endpoint_for):
    issued = endpoint_for(tester)

    response = signed_in.post(
        reverse("api_webhook_rotate", kwargs={"endpoint_id": issued.endpoint.id})
    )

    assert response.status_code == 200 and response.json()["secret"] != issued.secret


def test_the_deliveries_list_shows_each_attempt(signed_in, world):
    endpoint, delivery = world
    delivery.attempt_log.create(number=1, status_code=500, response_snippet="no", duration_ms=3)

    page = signed_in.get(reverse("api_webhook_deliveries", kwargs={"endpoint_id": endpoint.id}))

    [row] = page.json()["results"]
    assert row["state"] == "failed" and row["attempt_log"][0]["status_code"] == 500


# --- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "get", "post"),
    [
        (["jobs:read", "jobs:write"], 403, 403),
        (["webhooks:read"], 200, 403),
        (["webhooks:read", "webhooks:write"], 200, 201),
    ],
)
def test_tokens_need_the_webhooks_scopes(
    client, tester, receiver, loopback_allowed, scopes, get, post
):
    token = token_create(user=tester, name="cli", scopes=scopes).plaintext
    url = reverse("api_webhooks")

    assert client.get(url, headers=bearer(token)).status_code == get
    body = json.dumps({**NEW, "url": receiver.url})
    response = client.post(url, body, content_type="application/json", headers=bearer(token))
    assert response.status_code == post


def test_the_token_scopes_are_offered_on_the_tokens_page():
    assert {"webhooks:read", "webhooks:write"} <= set(ApiToken.Scope.values)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "https://x.test/"}, "events"),
        ({"url": 123, "events": ["job.started"]}, "url"),
        ({"url": "RECEIVER", "events": "job.started"}, "events"),
        ({"url": "RECEIVER", "events": []}, "events"),
        ({"url": "RECEIVER", "events": ["job.exploded"]}, "events"),
        ({"url": "RECEIVER", "events": [7]}, "events"),
        ({"url": "RECEIVER", "events": ["job.started"], "enabled": "yes"}, "enabled"),
        ({"url": "RECEIVER", "events": ["job.started"], "description": "a\x00b"}, "description"),
        ({"url": "RECEIVER\x07", "events": ["job.started"]}, "url"),
        ({"url": "http://127.0.0.1:1/hook", "events": ["job.started"]}, "url"),
        ({"url": "http://[::1]/hook", "events": ["job.started"]}, "url"),
        ({"url": "http://10.0.0.1/hook", "events": ["job.started"]}, "url"),
        ({"url": "file:///etc/passwd", "events": ["job.started"]}, "url"),
        ({"url": "x" * 2001, "events": ["job.started"]}, "url"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(signed_in, receiver, settings, body, field):
    """Nothing is allow-listed here, so every private address is refused. Where another field
    is what is wrong, the serializer refuses before the placeholder URL is ever resolved."""
    settings.WEBHOOK_ALLOWED_HOSTS = []
    body = {
        k: v.replace("RECEIVER", "https://hooks.example.test/") if isinstance(v, str) else v
        for k, v in body.items()
    }

    response = signed_in.post(reverse("api_webhooks"), body, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    assert field in response.json(), response.json()
    assert Endpoint.objects.count() == 0


@pytest.mark.parametrize("raw", ["[1, 2]", "{not json", '"a string"', "null"])
def test_a_body_that_is_not_an_object_is_a_400(signed_in, raw):
    response = signed_in.post(reverse("api_webhooks"), raw, content_type="application/json")

    assert response.status_code == 400, response.content[:300]


def test_a_patch_with_no_events_is_a_400_naming_events(signed_in, world):
    url = reverse("api_webhook", kwargs={"endpoint_id": world[0].id})

    response = signed_in.patch(url, {"events": []}, content_type="application/json")

    assert response.status_code == 400 and "events" in response.json()


def test_replaying_a_pending_delivery_is_a_409_naming_it(signed_in, world):
    endpoint, delivery = world
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.PENDING)
    url = reverse(
        "api_webhook_replay", kwargs={"endpoint_id": endpoint.id, "delivery_id": delivery.id}
    )

    response = signed_in.post(url)

    assert response.status_code == 409 and "delivery" in response.json()


def test_an_unknown_endpoint_is_a_404(signed_in):
    url = reverse("api_webhook", kwargs={"endpoint_id": uuid.uuid4()})

    assert signed_in.get(url).status_code == 404
    assert signed_in.get("/api/v1/webhooks/not-a-uuid/").status_code == 404


def test_endpoints_per_owner_are_bounded(settings, signed_in, tester, endpoint_for, receiver):
    settings.WEBHOOK_MAX_ENDPOINTS = 1
    endpoint_for(tester)

    response = signed_in.post(
        reverse("api_webhooks"), {**NEW, "url": receiver.url}, content_type="application/json"
    )

    assert response.status_code == 400 and "url" in response.json()


def test_the_settings_page_refuses_a_private_target_naming_the_url(signed_in):
    response = signed_in.post(
        reverse("webhooks"),
        {"url": "http://192.168.1.1/", "events": ["job.started"]},
        headers={"accept": "application/json"},
    )

    assert response.status_code == 400 and "url" in response.json()["errors"]


def test_the_settings_page_shows_the_new_secret_once(signed_in, receiver, loopback_allowed):
    created = signed_in.post(
        reverse("webhooks"), {"url": receiver.url, "events": ["job.started"], "enabled": "on"}
    )
    endpoint = Endpoint.objects.get()

    assert b"whsec_" in created.content
    again = signed_in.get(reverse("webhook_detail", kwargs={"endpoint_id": endpoint.id}))
    assert b"whsec_" not in again.content and receiver.url.encode() in again.content
