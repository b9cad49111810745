from __future__ import annotations

from rest_framework import serializers

from generation.services import PROMPT_MAX_CHARS, SEED_MAX, JobRequest


class JobSubmitSerializer(serializers.Serializer):
    """Parses types only; the rules (limits, prompt content) live in job_submit."""

    model = serializers.CharField(max_length=40)
    prompt = serializers.CharField(
        allow_blank=True, trim_whitespace=False, max_length=PROMPT_MAX_CHARS * 2
    )
    negative_prompt = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=PROMPT_MAX_CHARS * 2,
    )
    seed = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=SEED_MAX
    )
    num_frames = serializers.IntegerField(required=False, allow_null=True)
    width = serializers.IntegerField(required=False, allow_null=True)
    height = serializers.IntegerField(required=False, allow_null=True)
    steps = serializers.IntegerField(required=False, allow_null=True)
    guidance = serializers.FloatField(required=False, allow_null=True)

    def to_request(self) -> JobRequest:
        data = dict(self.validated_data)
        return JobRequest(model_name=data.pop("model"), **data)
