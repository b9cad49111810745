"""Reuse a job's settings: POST /jobs/<parent_id>/rerun/ submits a new job with the parent's
model, prompts, seed and shape, changed by whatever the body gives. Same rules, quota and
Idempotency-Key as creating a job (`job_rerun` calls `job_submit`)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from access.api.openapi import errors
from access.api.views import ApiView
from access.fields import TextSerializerField
from access.http import AuthenticatedRequest
from generation.api.serializers import JobSubmitSerializer
from generation.api.views import IDEMPOTENCY_HEADER, _idempotency_key
from generation.progress import job_event
from generation.selectors import job_visible_to
from generation.services import PROMPT_MAX_CHARS, JobRejected, job_rerun


class RerunSerializer(JobSubmitSerializer):
    """Every field of a job, each optional: what is left out is the parent's."""

    model = TextSerializerField(max_length=40, required=False)
    prompt = TextSerializerField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=PROMPT_MAX_CHARS * 2
    )
    negative_prompt = TextSerializerField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=PROMPT_MAX_CHARS * 2
    )

    def overrides(self) -> dict:
        data = dict(self.validated_data)
        if "model" in data:
            data["model_name"] = data.pop("model")
        return data


class OutputStateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    state_label = serializers.CharField()
    reason = serializers.CharField()
    note = serializers.CharField()
    video_url = serializers.CharField()
    poster_url = serializers.CharField()


class JobStateSerializer(serializers.Serializer):
    """A job as the jobs endpoints and the sockets show it."""

    id = serializers.UUIDField()
    owner_id = serializers.IntegerField()
    model = serializers.CharField()
    prompt = serializers.CharField()
    state = serializers.CharField()
    state_label = serializers.CharField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    percent = serializers.IntegerField()
    eta_s = serializers.FloatField(allow_null=True)
    queue_position = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.CharField()
    output = OutputStateSerializer(allow_null=True)


class RerunJobSerializer(JobStateSerializer):
    parent_id = serializers.UUIDField(help_text="The job whose settings were reused.")


class JobRerunView(ApiView):
    required_scopes = {"POST": "jobs:write"}
    serializer_class = RerunSerializer

    @extend_schema(
        operation_id="jobs_rerun",
        tags=["jobs"],
        summary="Submit a new job with this job's settings (reuse settings)",
        request=RerunSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="A retry with the same key returns the same job (200, not 201).",
            )
        ],
        responses={201: RerunJobSerializer, 200: RerunJobSerializer, **errors(400, 404)},
        examples=[
            OpenApiExample("Same settings, new seed", value={"seed": None}, request_only=True),
            OpenApiExample("Longer", value={"num_frames": 49}, request_only=True),
        ],
    )
    def post(self, request: AuthenticatedRequest, job_id) -> Response:
        parent = job_visible_to(job_id=job_id, user=request.user)
        if parent is None:
            raise Http404("No such job.")
        serializer = RerunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job, created = job_rerun(
                parent=parent,
                by=request.user,
                overrides=serializer.overrides(),
                client_token=_idempotency_key(request),
            )
        except JobRejected as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        body = RerunJobSerializer({**job_event(job).as_dict(), "parent_id": parent.id}).data
        return Response(body, status=code)
