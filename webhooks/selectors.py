"""Reading endpoints and deliveries: always the asking owner's own (anyone else's look absent)."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from access.models import User
from webhooks.models import Delivery, Endpoint


def endpoints_of(owner: User) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(owner=owner).order_by("-created_at")


def endpoint_of(owner: User, endpoint_id: UUID) -> Endpoint | None:
    return Endpoint.objects.filter(owner=owner, id=endpoint_id).first()


def deliveries_of(endpoint: Endpoint) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(endpoint=endpoint)
        .prefetch_related("attempt_log")
        .order_by("-created_at")
    )


def delivery_of(owner: User, endpoint_id: UUID, delivery_id: UUID) -> Delivery | None:
    return (
        Delivery.objects.select_related("endpoint")
        .filter(id=delivery_id, endpoint_id=endpoint_id, endpoint__owner=owner)
        .first()
    )
