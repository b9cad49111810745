from __future__ import annotations

from rest_framework import serializers

from access.fields import (
    ChoiceSerializerField,
    StrictFloatSerializerField,
    StrictIntegerSerializerField,
    TextSerializerField,
)
from generation.models import Job
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
    # DRF's metaclass takes declared fields off the class, so this does not shadow Field.parent.
    parent = serializers.UUIDField(  # type: ignore[assignment]
        required=False,
        allow_null=True,
        help_text="The id of one of your jobs this one derives from (reused settings, a new "
        "version); shown as `parent_id`.",
    )

    def to_request(self) -> JobRequest:
        data = dict(self.validated_data)
        data.pop("parent", None)
        return JobRequest(model_name=data.pop("model"), **data)


class JobFilterSerializer(serializers.Serializer):
    """The job list's query parameters."""

    state = ChoiceSerializerField(choices=Job.State.choices, required=False)
    model = TextSerializerField(max_length=40, required=False)


class JobCancelSerializer(serializers.Serializer):
    """An optional reason; the body may be empty, but when given it is an object."""

    reason = TextSerializerField(
        required=False, allow_blank=True, default="", max_length=CANCEL_REASON_MAX_CHARS
    )


# --- responses: documentation of what the views answer (they build the payloads themselves) -------


class JobOutputSerializer(serializers.Serializer):
    """The output a job made, as the job payload carries it (the full one: GET /outputs/<id>/)."""

    id = serializers.UUIDField()
    state = serializers.CharField(help_text="Review state: pending, approved, rejected, …")
    state_label = serializers.CharField()
    reason = serializers.CharField(help_text="The reviewer's reason, once decided.")
    note = serializers.CharField()
    video_url = serializers.CharField()
    poster_url = serializers.CharField()


class JobParametersSerializer(serializers.Serializer):
    """What the job runs with: the request, completed by the model's defaults."""

    negative_prompt = serializers.CharField()
    seed = serializers.IntegerField()
    num_frames = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    steps = serializers.IntegerField()
    guidance = serializers.FloatField()


class JobMetricsSerializer(serializers.Serializer):
    predict_time = serializers.FloatField(
        allow_null=True,
        help_text="Seconds the render took (charged to the GPU-seconds quota); null until run.",
    )


class JobSerializer(serializers.Serializer):
    """A job's whole current state: the payload the studio's socket receives, plus its
    parameters, parent, start and completion times and metrics."""

    id = serializers.UUIDField()
    owner_id = serializers.IntegerField()
    model = serializers.CharField()
    prompt = serializers.CharField()
    state = serializers.ChoiceField(choices=Job.State.choices)
    state_label = serializers.CharField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    percent = serializers.IntegerField()
    eta_s = serializers.FloatField(allow_null=True, help_text="Seconds until done, if known.")
    queue_position = serializers.IntegerField(
        allow_null=True, help_text="1 = next to run; only for a queued job on a read."
    )
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    output = JobOutputSerializer(allow_null=True)
    parameters = JobParametersSerializer()
    parent_id = serializers.UUIDField(
        allow_null=True, help_text="The job whose settings this one reused (rerun), if any."
    )
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(
        allow_null=True, help_text="When it succeeded, failed or was cancelled."
    )
    metrics = JobMetricsSerializer()
