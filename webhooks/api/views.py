"""Webhook endpoints over the API: the caller's own endpoints and their delivery logs.

Another user's endpoint (or delivery) answers 404, exactly like one that does not exist: ids
disclose nothing. Tokens need `webhooks:read` / `webhooks:write`.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from access.api.pagination import BoundedLimitOffsetPagination
from access.api.views import ApiView
from access.http import AuthenticatedRequest
from webhooks.api.serializers import (
    DeliveryPageSerializer,
    DeliverySerializer,
    EndpointPageSerializer,
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
REFUSED = {400: OpenApiResponse(description="A field is wrong; the body names it.")}
ABSENT = {404: OpenApiResponse(description="No such endpoint of yours.")}


def _own_endpoint(request: AuthenticatedRequest, endpoint_id) -> Endpoint:
    endpoint = endpoint_of(request.user, endpoint_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def _issued(issued: IssuedEndpoint) -> dict:
    endpoint = issued.endpoint
    endpoint.secret = issued.secret  # type: ignore[attr-defined]  # for the serializer, once
    return EndpointWithSecretSerializer(endpoint).data


def _paged(request: AuthenticatedRequest, view: ApiView, queryset, serializer) -> Response:
    paginator: BoundedLimitOffsetPagination = BoundedLimitOffsetPagination()
    page: list | None = paginator.paginate_queryset(queryset, request, view=view)
    if page is None:  # LimitOffsetPagination pages whenever PAGE_SIZE is set
        raise ImproperlyConfigured("REST_FRAMEWORK['PAGE_SIZE'] must be set.")
    return paginator.get_paginated_response(serializer(page, many=True).data)


class EndpointListView(ApiView):
    """GET: your endpoints. POST: register one; the answer holds its secret, shown once."""

    required_scopes = {"GET": READ, "POST": WRITE}
    serializer_class = EndpointWriteSerializer

    @extend_schema(operation_id="webhooks_list", tags=TAGS, responses=EndpointPageSerializer)
    def get(self, request: AuthenticatedRequest) -> Response:
        return _paged(request, self, endpoints_of(request.user), EndpointSerializer)

    @extend_schema(
        operation_id="webhooks_create",
        tags=TAGS,
        request=EndpointWriteSerializer,
        responses={201: EndpointWithSecretSerializer, **REFUSED},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = EndpointWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            issued = endpoint_create(owner=request.user, **serializer.validated_data)
        except WebhookError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(_issued(issued), status=status.HTTP_201_CREATED)


class EndpointDetailView(ApiView):
    required_scopes = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}
    serializer_class = EndpointWriteSerializer

    @extend_schema(
        operation_id="webhooks_retrieve", tags=TAGS, responses={200: EndpointSerializer, **ABSENT}
    )
    def get(self, request: AuthenticatedRequest, endpoint_id) -> Response:
        return Response(EndpointSerializer(_own_endpoint(request, endpoint_id)).data)

    @extend_schema(
        operation_id="webhooks_update",
        tags=TAGS,
        request=EndpointWriteSerializer(partial=True),
        responses={200: EndpointSerializer, **REFUSED, **ABSENT},
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
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(operation_id="webhooks_destroy", tags=TAGS, responses={204: None, **ABSENT})
    def delete(self, request: AuthenticatedRequest, endpoint_id) -> Response:
        endpoint_delete(endpoint=_own_endpoint(request, endpoint_id), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateView(ApiView):
    """POST: a new signing secret, shown once; the old one stops signing at once."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="webhooks_rotate",
        tags=TAGS,
        request=None,
        responses={200: EndpointWithSecretSerializer, **ABSENT},
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
        responses={200: DeliveryPageSerializer, **ABSENT},
    )
    def get(self, request: AuthenticatedRequest, endpoint_id) -> Response:
        endpoint = _own_endpoint(request, endpoint_id)
        return _paged(request, self, deliveries_of(endpoint), DeliverySerializer)


class DeliveryReplayView(ApiView):
    """POST: send a finished delivery's event again (same webhook-id and body); 202."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="webhooks_deliveries_replay",
        tags=TAGS,
        request=None,
        responses={
            202: DeliverySerializer,
            404: OpenApiResponse(description="No such delivery of yours."),
            409: OpenApiResponse(description="Still being attempted, or the endpoint is off."),
        },
    )
    def post(self, request: AuthenticatedRequest, endpoint_id, delivery_id) -> Response:
        delivery = delivery_of(request.user, endpoint_id, delivery_id)
        if delivery is None:
            raise Http404("No such delivery.")
        try:
            replay = delivery_replay(delivery=delivery, by=request.user)
        except WebhookError as exc:
            return Response(exc.errors, status=status.HTTP_409_CONFLICT)
        return Response(DeliverySerializer(replay).data, status=status.HTTP_202_ACCEPTED)
