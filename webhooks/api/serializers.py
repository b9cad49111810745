from __future__ import annotations

from typing import Any

from rest_framework import serializers

from access.fields import TextSerializerField, json_type_name
from webhooks.models import Delivery, DeliveryAttempt, Endpoint, EventType
from webhooks.services import DESCRIPTION_MAX_CHARS, URL_MAX_CHARS


class StrictBooleanSerializerField(serializers.BooleanField):
    """A JSON true or false: not "yes", not 1."""

    default_error_messages = {"not_a_boolean": "Must be true or false, not {type}."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("not_a_boolean", type=json_type_name(data))
        return data


class EndpointWriteSerializer(serializers.Serializer):
    """Parses exact JSON types only; the rules (public targets, known events) live in the
    services. PATCH takes any subset (`partial=True`)."""

    url = TextSerializerField(max_length=URL_MAX_CHARS)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False, max_length=20
    )
    description = TextSerializerField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX_CHARS
    )
    enabled = StrictBooleanSerializerField(required=False)


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = ["id", "url", "description", "events", "enabled", "created_at", "updated_at"]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    """Creation and rotation only: the secret in the clear, shown this once."""

    secret = serializers.CharField(read_only=True, help_text="whsec_<base64>: shown once.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "status_code", "error", "duration_ms", "response_snippet", "created_at"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "message_id",
            "event_type",
            "state",
            "attempts",
            "next_attempt_at",
            "replay_of",
            "created_at",
            "finished_at",
            "body",
            "attempt_log",
        ]
        read_only_fields = fields


class _Page(serializers.Serializer):
    """One page of a list (`BoundedLimitOffsetPagination`): for the schema only."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class EndpointPageSerializer(_Page):
    results = EndpointSerializer(many=True)


class DeliveryPageSerializer(_Page):
    results = DeliverySerializer(many=True)
