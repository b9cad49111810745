"""Reuse a job's settings: POST /jobs/<parent_id>/rerun/ submits a new job with the parent's
model, prompts, seed and shape, changed by whatever the body gives. Same rules, quota and
Idempotency-Key as creating a job (`job_rerun` calls `job_submit`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response

from access.api.schema import ERRORS, QUOTA_EXAMPLE, RATE_LIMIT_HEADERS, problems
from access.api.views import ApiView
from access.fields import TextSerializerField
from access.http import AuthenticatedRequest
from generation.api.serializers import JobSerializer, JobSubmitSerializer
from generation.api.views import (
    IDEMPOTENCY_PARAMETER,
    JOB_EXAMPLE,
    JOB_ID_PARAMETER,
    idempotency_key,
    submission_response,
    visible_job,
)
from generation.services import (
    PROMPT_MAX_CHARS,
    job_rerun,
)


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


class JobRerunView(ApiView):
    required_scopes = {"POST": "jobs:write"}
    serializer_class = RerunSerializer

    @extend_schema(
        operation_id="jobs_rerun",
        tags=["jobs"],
        summary="Submit a new job with this job's settings (reuse settings)",
        description="The same rules as submitting a job: a used-up quota is the same 429 "
        "(`quota`, `resets_at`), a reused Idempotency-Key with another body a 422.",
        request=RerunSerializer,
        parameters=[JOB_ID_PARAMETER, IDEMPOTENCY_PARAMETER, *RATE_LIMIT_HEADERS],
        responses={
            201: OpenApiResponse(JobSerializer, description="Queued."),
            200: OpenApiResponse(JobSerializer, description="The job the key named."),
            **ERRORS,
            **problems(404, 415, 422),
        },
        examples=[
            OpenApiExample("Same settings, new seed", value={"seed": None}, request_only=True),
            OpenApiExample("Longer", value={"num_frames": 49}, request_only=True),
            OpenApiExample(
                "queued",
                value={**JOB_EXAMPLE, "parent_id": "0f6c1a52-3e1b-4a43-a7d4-8d2e8cb1f0aa"},
                response_only=True,
                status_codes=[201],
            ),
            OpenApiExample(
                "quota",
                value=QUOTA_EXAMPLE,
                response_only=True,
                status_codes=[429],
                media_type="application/problem+json",
            ),
        ],
    )
    def post(self, request: AuthenticatedRequest, job_id) -> Response:
        parent = visible_job(request, job_id)
        serializer = RerunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return submission_response(
            lambda: job_rerun(
                parent=parent,
                by=request.user,
                overrides=serializer.overrides(),
                client_token=idempotency_key(request),
            )
        )
