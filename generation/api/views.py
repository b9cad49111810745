from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from access.api.conditional import conditional_response
from access.api.pagination import BoundedCursorPagination
from access.api.problems import CONFLICT, IDEMPOTENCY_CONFLICT, QUOTA_EXCEEDED, ProblemResponse
from access.api.schema import (
    ERRORS,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    PAGE_PARAMETERS,
    QUOTA_EXAMPLE,
    RATE_LIMIT_HEADERS,
    paginated,
    problems,
)
from access.api.views import ApiView
from access.fields import TextSerializerField
from access.http import AuthenticatedRequest
from generation.api.resources import job_resource, job_resources
from generation.api.serializers import (
    JobCancelSerializer,
    JobFilterSerializer,
    JobSerializer,
    JobSubmitSerializer,
)
from generation.models import Job
from generation.selectors import job_owned_by, job_visible_to, jobs_of
from generation.services import (
    IdempotencyConflict,
    JobRejected,
    QuotaExceeded,
    job_cancel,
    job_submit,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"

JOB_EXAMPLE = {
    "id": "3f1c2a9e-8d7b-4c61-9a52-0e4f6b1d2c3a",
    "owner_id": 7,
    "model": "demo",
    "prompt": "a heron at dawn",
    "state": "queued",
    "state_label": "Queued",
    "step": 0,
    "total_steps": 20,
    "percent": 0,
    "eta_s": None,
    "queue_position": None,
    "error": "",
    "created_at": "2026-11-30T14:05:00+00:00",
    "output": None,
    "parameters": {
        "negative_prompt": "",
        "seed": 421337,
        "num_frames": 9,
        "width": 256,
        "height": 256,
        "steps": 20,
        "guidance": 5.0,
    },
    "parent_id": None,
    "started_at": None,
    "completed_at": None,
    "metrics": {"predict_time": None},
}

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Up to 64 characters. Repeating it with the same body returns the first job "
    "(200); with a different body, 422.",
)
JOB_ID_PARAMETER = OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class JobListView(ApiView):
    """GET: the caller's jobs, newest first. POST: submit a job (Idempotency-Key optional)."""

    required_scopes = {"GET": "jobs:read", "POST": "jobs:write"}
    throttle_scopes = {"POST": "job_submit"}
    serializer_class = JobSubmitSerializer

    @extend_schema(
        operation_id="jobs_list",
        summary="List your jobs, newest first",
        parameters=[JobFilterSerializer, *PAGE_PARAMETERS, *RATE_LIMIT_HEADERS],
        responses={200: paginated(JobSerializer), **ERRORS},
        examples=[
            OpenApiExample("page", value={"next": None, "previous": None, "results": [JOB_EXAMPLE]})
        ],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = JobFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        jobs = jobs_of(owner=request.user, **filters.validated_data)
        paginator = BoundedCursorPagination()
        page = paginator.page_of(jobs, request, view=self)
        return paginator.get_paginated_response(job_resources(page))

    @extend_schema(
        operation_id="jobs_create",
        summary="Submit a job",
        description="Parameters left out take the model's defaults, narrowed by your cohort's "
        "limits. A used-up quota is a 429 naming it (`quota`) and when it renews (`resets_at`).",
        parameters=[IDEMPOTENCY_PARAMETER, *RATE_LIMIT_HEADERS],
        request=JobSubmitSerializer,
        responses={
            201: OpenApiResponse(JobSerializer, description="Queued."),
            200: OpenApiResponse(JobSerializer, description="The job an Idempotency-Key named."),
            **ERRORS,
            **problems(415, 422),
        },
        examples=[
            OpenApiExample(
                "submit",
                value={"model": "demo", "prompt": "a heron at dawn", "num_frames": 9},
                request_only=True,
            ),
            OpenApiExample("queued", value=JOB_EXAMPLE, response_only=True, status_codes=[201]),
            OpenApiExample(
                "quota",
                value=QUOTA_EXAMPLE,
                response_only=True,
                status_codes=[429],
                media_type="application/problem+json",
            ),
        ],
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = JobSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parent = _parent_of(request, serializer.validated_data.get("parent"))
        return submission_response(
            lambda: job_submit(
                owner=request.user,
                request=serializer.to_request(),
                client_token=idempotency_key(request),
                parent=parent,
            )
        )


def _parent_of(request: AuthenticatedRequest, parent_id: Any) -> Job | None:
    """The caller's own job a submission derives from; another's (or none) is a 400."""
    if parent_id is None:
        return None
    parent = job_owned_by(job_id=parent_id, owner=request.user)
    if parent is None:
        raise ValidationError({"parent": ["No job of yours has this id."]})
    return parent


def submission_response(submit: Callable[[], tuple[Job, bool]]) -> Response:
    """A submission's answer (job create, rerun): 201 for a new job, 200 for the job an
    Idempotency-Key named; a used-up quota 429, a key reused with another request 422, a refusal
    400."""
    try:
        job, created = submit()
    except QuotaExceeded as exc:
        return quota_response(exc)
    except IdempotencyConflict:
        return idempotency_conflict_response()
    except JobRejected as exc:
        raise ValidationError(exc.errors) from None
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    # No queue position here: placing one job means ordering the model's whole queue, which
    # would make every submission wait on the others. It arrives with the dispatcher's queue
    # update on the sockets, and with any GET of the job.
    return Response(job_resource(job), status=code)


def idempotency_conflict_response() -> Response:
    return ProblemResponse(
        422,
        f"This {IDEMPOTENCY_HEADER} was first used with a different request; "
        "use a new key for a new job.",
        type_=IDEMPOTENCY_CONFLICT,
        errors={IDEMPOTENCY_HEADER: ["Used before with a different request."]},
    )


def quota_response(exc: QuotaExceeded) -> Response:
    response = ProblemResponse(
        429,
        exc.message,
        type_=QUOTA_EXCEEDED,
        quota=exc.quota,
        resets_at=exc.resets_at.isoformat() if exc.resets_at else None,
    )
    if exc.resets_at is not None:
        response["Retry-After"] = str(_seconds_until(exc.resets_at))
    return response


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - timezone.now()).total_seconds()) + 1)


def idempotency_key(request: AuthenticatedRequest) -> str:
    """The optional header, parsed like any other text the API takes."""
    field = TextSerializerField(required=False, allow_blank=True, max_length=64)
    try:
        return field.run_validation(request.headers.get(IDEMPOTENCY_HEADER, ""))
    except ValidationError as exc:
        raise ValidationError({IDEMPOTENCY_HEADER: exc.detail}) from None


def visible_job(request: AuthenticatedRequest, job_id: Any):
    job = job_visible_to(job_id=job_id, user=request.user)
    if job is None:
        raise NotFound("No such job.")
    return job


class JobDetailView(ApiView):
    required_scopes = {"GET": "jobs:read"}

    @extend_schema(
        operation_id="jobs_retrieve",
        summary="Read one job (with its queue position and ETA while queued)",
        parameters=[JOB_ID_PARAMETER, IF_NONE_MATCH, *RATE_LIMIT_HEADERS],
        responses={
            200: JobSerializer,
            304: NOT_MODIFIED,
            **ERRORS,
            **problems(404),
        },
        examples=[OpenApiExample("job", value=JOB_EXAMPLE, response_only=True)],
    )
    def get(self, request: AuthenticatedRequest, job_id) -> Response:
        return conditional_response(request, job_resources([visible_job(request, job_id)])[0])


class JobCancelView(ApiView):
    required_scopes = {"POST": "jobs:write"}
    serializer_class = JobCancelSerializer

    @extend_schema(
        operation_id="jobs_cancel",
        summary="Cancel a queued or running job",
        parameters=[JOB_ID_PARAMETER, *RATE_LIMIT_HEADERS],
        request=JobCancelSerializer,
        responses={200: JobSerializer, **ERRORS, **problems(404, 409, 415)},
        examples=[
            OpenApiExample("cancel", value={"reason": "wrong prompt"}, request_only=True),
        ],
    )
    def post(self, request: AuthenticatedRequest, job_id) -> Response:
        job = visible_job(request, job_id)
        serializer = JobCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = job_cancel(job=job, by=request.user, reason=serializer.validated_data["reason"])
        except JobRejected as exc:
            return ProblemResponse(409, " ".join(_flat(exc.errors)), type_=CONFLICT)
        return Response(job_resources([job])[0])


def _flat(errors: dict[str, list[str]]) -> list[str]:
    return [message for messages in errors.values() for message in messages]
