"""Audit action names of the webhooks app (see `access.audit`)."""

from access.audit import register

ENDPOINT_CREATED = register("webhooks.endpoint.created", "Webhook endpoint created")
ENDPOINT_CHANGED = register("webhooks.endpoint.changed", "Webhook endpoint changed")
ENDPOINT_DELETED = register("webhooks.endpoint.deleted", "Webhook endpoint deleted")
ENDPOINT_ROTATED = register("webhooks.endpoint.rotated", "Webhook endpoint secret rotated")
DELIVERY_REPLAYED = register("webhooks.delivery.replayed", "Webhook delivery replayed")
