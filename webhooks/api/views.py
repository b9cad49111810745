"""Webhook endpoints over the API: the caller's own endpoints and their delivery logs.

Another user's endpoint (or delivery) answers 404, exactly like one that does not exist: ids
disclose nothing. Tokens need `webhooks:read` / `webhooks:write`.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from access.api.pagination import page_response
from access.api.problems import CONFLICT, ProblemResponse
from access.api.schema import (
    ERRORS,
    PAGE_PARAMETERS,
    RATE_LIMIT_HEADERS,
    paginated,
    problems,
)
from access.api.views import ApiView
from access.http import AuthenticatedRequest
from webhooks.api.serializers import (
    DeliverySerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
    EndpointWriteSerializer,
)
from webhooks.models import Endpoint
from webhooks.selectors import deliveries_of, delivery_of, endpoint_of, endpoints_of
from webhooks.services import (
    IssuedEndpoint,
    WebhookError,
    delivery_replay,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate,
    endpoint_update,
)

READ, WRITE = "webhooks:read", "webhooks:write"
TAGS = ["webhooks"]
ABSENT = problems(404, descriptions={404: "No such endpoint of yours."})

ENDPOINT_EXAMPLE = {
    "id": "8d0f4f5e-1a6b-4c2d-9e3f-7a8b9c0d1e2f",
    "url": "https://hooks.example.com/vernissage",
    "description": "CI notifier",
    "events": ["job.succeeded", "output.approved"],
    "enabled": True,
    "created_at": "2026-11-30T10:00:00Z",
    "updated_at": "2026-11-30T10:00:00Z",
}
SECRET_EXAMPLE = {**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
DELIVERY_EXAMPLE = {
    "id": "2b7c9d1e-3f4a-4b5c-8d6e-9f0a1b2c3d4e",
    "message_id": "msg_2b7c9d1e3f4a4b5c8d6e9f0a1b2c3d4e",
    "event_type": "job.succeeded",
    "state": "succeeded",
    "attempts": 1,
    "next_attempt_at": None,
    "replay_of": None,
    "created_at": "2026-11-30T10:05:00Z",
    "finished_at": "2026-11-30T10:05:01Z",
    "body": '{"type":"job.succeeded","timestamp":"2026-11-30T10:05:00Z","data":{"id":"…"}}',
    "attempt_log": [
        {
            "number": 1,
            "status_code": 200,
            "error": "",
            "duration_ms": 84,
            "response_snippet": "ok",
            "created_at": "2026-11-30T10:05:01Z",
        }
    ],
}


def _page_example(item: dict) -> OpenApiExample:
    return OpenApiExample(
        "One page", value={"next": None, "previous": None, "results": [item]}, response_only=True
    )


def _refused(exc: WebhookError) -> ValidationError:
    """A rule of the services broken: the same 400 problem as a malformed field."""
    return ValidationError(exc.errors)


def _own_endpoint(request: AuthenticatedRequest, endpoint_id) -> Endpoint:
    endpoint = endpoint_of(request.user, endpoint_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def _issued(issued: IssuedEndpoint) -> dict:
    endpoint = issued.endpoint
    endpoint.secret = issued.secret  # type: ignore[attr-defined]  # for the serializer, once
    return EndpointWithSecretSerializer(endpoint).data


class EndpointListView(ApiView):
    """GET: your endpoints. POST: register one; the answer holds its secret, shown once."""

    required_scopes = {"GET": READ, "POST": WRITE}
    serializer_class = EndpointWriteSerializer

    @extend_schema(
        operation_id="webhooks_list",
        tags=TAGS,
        summary="Your webhook endpoints, newest first",
        parameters=[*PAGE_PARAMETERS, *RATE_LIMIT_HEADERS],
        responses={200: paginated(EndpointSerializer), **ERRORS},
        examples=[_page_example(ENDPOINT_EXAMPLE)],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return page_response(request, self, endpoints_of(request.user), EndpointSerializer)

    @extend_schema(
        operation_id="webhooks_create",
        tags=TAGS,
        summary="Register an endpoint; the answer holds its signing secret, shown once",
        parameters=[*RATE_LIMIT_HEADERS],
        request=EndpointWriteSerializer,
        responses={201: EndpointWithSecretSerializer, **ERRORS, **problems(415)},
        examples=[
            OpenApiExample(
                "Register",
                value={k: ENDPOINT_EXAMPLE[k] for k in ("url", "events", "description")},
                request_only=True,
            ),
            OpenApiExample("Registered", value=SECRET_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = EndpointWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            issued = endpoint_create(owner=request.user, **serializer.validated_data)
        except WebhookError as exc:
            raise _refused(exc) from None
        return Response(_issued(issued), status=status.HTTP_201_CREATED)


class EndpointDetailView(ApiView):
    required_scopes = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}
    serializer_class = EndpointWriteSerializer

    @extend_schema(
        operation_id="webhooks_retrieve",
        tags=TAGS,
        summary="One of your endpoints",
        parameters=[*RATE_LIMIT_HEADERS],
        responses={200: EndpointSerializer, **ERRORS, **ABSENT},
        examples=[OpenApiExample("Endpoint", value=ENDPOINT_EXAMPLE, response_only=True)],
    )
    def get(self, request: AuthenticatedRequest, endpoint_id) -> Response:
        return Response(EndpointSerializer(_own_endpoint(request, endpoint_id)).data)

    @extend_schema(
        operation_id="webhooks_update",
        tags=TAGS,
        summary="Change an endpoint's URL, events, description or enabled flag",
        parameters=[*RATE_LIMIT_HEADERS],
        request=EndpointWriteSerializer(partial=True),
        responses={200: EndpointSerializer, **ERRORS, **ABSENT, **problems(415)},
        examples=[
            OpenApiExample("Disable", value={"enabled": False}, request_only=True),
            OpenApiExample(
                "Disabled", value={**ENDPOINT_EXAMPLE, "enabled": False}, response_only=True
            ),
        ],
    )
    def patch(self, request: AuthenticatedRequest, endpoint_id) -> Response:
        endpoint = _own_endpoint(request, endpoint_id)
        serializer = EndpointWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint = endpoint_update(
                endpoint=endpoint, by=request.user, **serializer.validated_data
            )
        except WebhookError as exc:
            raise _refused(exc) from None
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        tags=TAGS,
        summary="Delete an endpoint (its delivery log goes with it)",
        parameters=[*RATE_LIMIT_HEADERS],
        responses={204: OpenApiResponse(description="Deleted."), **ERRORS, **ABSENT},
    )
    def delete(self, request: AuthenticatedRequest, endpoint_id) -> Response:
        endpoint_delete(endpoint=_own_endpoint(request, endpoint_id), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateView(ApiView):
    """POST: a new signing secret, shown once; the old one stops signing at once."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="webhooks_rotate",
        tags=TAGS,
        summary="A new signing secret, shown once; the old one stops signing at once",
        parameters=[*RATE_LIMIT_HEADERS],
        request=None,
        responses={200: EndpointWithSecretSerializer, **ERRORS, **ABSENT},
        examples=[OpenApiExample("Rotated", value=SECRET_EXAMPLE, response_only=True)],
    )
    def post(self, request: AuthenticatedRequest, endpoint_id) -> Response:
        endpoint = _own_endpoint(request, endpoint_id)
        return Response(_issued(endpoint_rotate(endpoint=endpoint, by=request.user)))


class DeliveryListView(ApiView):
    """GET: the endpoint's deliveries, newest first, each with its attempts."""

    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        tags=TAGS,
        summary="An endpoint's deliveries, newest first, each with its attempts",
        parameters=[*PAGE_PARAMETERS, *RATE_LIMIT_HEADERS],
        responses={200: paginated(DeliverySerializer), **ERRORS, **ABSENT},
        examples=[_page_example(DELIVERY_EXAMPLE)],
    )
    def get(self, request: AuthenticatedRequest, endpoint_id) -> Response:
        endpoint = _own_endpoint(request, endpoint_id)
        return page_response(request, self, deliveries_of(endpoint), DeliverySerializer)


class DeliveryReplayView(ApiView):
    """POST: send a finished delivery's event again (same webhook-id and body); 202."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="webhooks_deliveries_replay",
        tags=TAGS,
        summary="Send a finished delivery's event again (same webhook-id and body)",
        parameters=[*RATE_LIMIT_HEADERS],
        request=None,
        responses={
            202: DeliverySerializer,
            **ERRORS,
            **problems(
                404,
                409,
                descriptions={
                    404: "No such delivery of yours.",
                    409: "Still being attempted, or the endpoint is disabled.",
                },
            ),
        },
        examples=[
            OpenApiExample(
                "Replaying",
                value={
                    **DELIVERY_EXAMPLE,
                    "state": "pending",
                    "attempts": 0,
                    "finished_at": None,
                    "replay_of": DELIVERY_EXAMPLE["id"],
                    "attempt_log": [],
                },
                response_only=True,
                status_codes=[202],
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, endpoint_id, delivery_id) -> Response:
        delivery = delivery_of(request.user, endpoint_id, delivery_id)
        if delivery is None:
            raise Http404("No such delivery.")
        try:
            replay = delivery_replay(delivery=delivery, by=request.user)
        except WebhookError as exc:
            return ProblemResponse(409, str(exc), type_=CONFLICT, errors=exc.errors)
        return Response(DeliverySerializer(replay).data, status=status.HTTP_202_ACCEPTED)
