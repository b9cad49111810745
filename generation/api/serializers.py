from __future__ import annotations

from rest_framework import serializers

from access.fields import (
    StrictFloatSerializerField,
    StrictIntegerSerializerField,
    TextSerializerField,
)
from generation.services import CANCEL_REASON_MAX_CHARS, PROMPT_MAX_CHARS, SEED_MAX, JobRequest


class JobSubmitSerializer(serializers.Serializer):
    """Parses exact JSON types only; the rules (limits, prompt content) live in job_submit."""

    model = TextSerializerField(max_length=40)
    prompt = TextSerializerField(
        allow_blank=True, trim_whitespace=False, max_length=PROMPT_MAX_CHARS * 2
    )
    negative_prompt = TextSerializerField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=PROMPT_MAX_CHARS * 2,
    )
    seed = StrictIntegerSerializerField(
        required=False, allow_null=True, min_value=0, max_value=SEED_MAX
    )
    num_frames = StrictIntegerSerializerField(required=False, allow_null=True)
    width = StrictIntegerSerializerField(required=False, allow_null=True)
    height = StrictIntegerSerializerField(required=False, allow_null=True)
    steps = StrictIntegerSerializerField(required=False, allow_null=True)
    guidance = StrictFloatSerializerField(required=False, allow_null=True)

    def to_request(self) -> JobRequest:
        data = dict(self.validated_data)
        return JobRequest(model_name=data.pop("model"), **data)


class JobCancelSerializer(serializers.Serializer):
    """An optional reason; the body may be empty, but when given it is an object."""

    reason = TextSerializerField(
        required=False, allow_blank=True, default="", max_length=CANCEL_REASON_MAX_CHARS
    )
