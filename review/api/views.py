"""The review queue over the API, for reviewers' own tools (session or staff token auth)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.pagination import OldestFirstCursorPagination
from access.api.permissions import ActiveTesterWithScopes
from access.api.schema import ERRORS, RATE_LIMIT_HEADERS, paginated
from access.api.views import ApiView
from access.http import form_errors
from access.roles import can_moderate
from review.forms import QueueFilterForm
from review.selectors import review_queue


class IsReviewer(BasePermission):
    message = "The review queue is for reviewers."

    def has_permission(self, request, view) -> bool:
        return can_moderate(request.user)


def _item(output) -> dict:
    job = output.job
    return {
        "id": str(output.id),
        "job": str(job.id),
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "model": job.model_name,
        "tester": job.owner.email,
        "cohort": job.owner.cohort.name if job.owner.cohort else None,
        "lane": job.owner.cohort.lane if job.owner.cohort else None,
        "parameters": {
            "num_frames": output.num_frames,
            "width": output.width,
            "height": output.height,
            "steps": job.steps,
            "seed": job.seed,
        },
        "claimed_by": output.claimed_by.email if output.claimed_by else None,
        "approvals": output.approval_count,
        "approvals_required": output.approvals_required,
        "created_at": output.created_at.isoformat(),
    }


class _ParametersSerializer(serializers.Serializer):
    num_frames = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    steps = serializers.IntegerField()
    seed = serializers.IntegerField()


class QueueItemSerializer(serializers.Serializer):
    """Documents `_item` (the view builds the payload itself)."""

    id = serializers.UUIDField()
    job = serializers.UUIDField()
    prompt = serializers.CharField()
    negative_prompt = serializers.CharField()
    model = serializers.CharField()
    tester = serializers.EmailField()
    cohort = serializers.CharField(allow_null=True)
    lane = serializers.CharField(allow_null=True)
    parameters = _ParametersSerializer()
    claimed_by = serializers.EmailField(allow_null=True)
    approvals = serializers.IntegerField()
    approvals_required = serializers.IntegerField()
    created_at = serializers.DateTimeField()


_QUEUE_FILTERS = [
    OpenApiParameter("model", OpenApiTypes.STR, description="A model name."),
    OpenApiParameter("cohort", OpenApiTypes.STR, description="A cohort name."),
    OpenApiParameter("tester", OpenApiTypes.STR, description="Part of a tester's email."),
    OpenApiParameter("lane", OpenApiTypes.STR, description="A review lane."),
    OpenApiParameter("min_age_hours", OpenApiTypes.INT, description="Waiting at least this long."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Page size, at most 200."),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="From `next`/`previous`."),
]


class ReviewQueueView(ApiView):
    """GET: outputs awaiting review, oldest first, filtered like the queue page (`?model=&cohort=
    &tester=&lane=&min_age_hours=`) and cursor-paged (`?limit=`, then `next`)."""

    permission_classes = [ActiveTesterWithScopes, IsReviewer]
    required_scopes = {"GET": "outputs:read"}

    @extend_schema(
        operation_id="review_queue_list",
        summary="Outputs awaiting review, oldest first (reviewers)",
        parameters=[*_QUEUE_FILTERS, *RATE_LIMIT_HEADERS],
        responses={200: paginated(QueueItemSerializer), **ERRORS},
        examples=[OpenApiExample("empty", value={"next": None, "previous": None, "results": []})],
    )
    def get(self, request: Request) -> Response:
        form = QueueFilterForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        paginator = OldestFirstCursorPagination()
        page = paginator.page_of(review_queue(form.filters()), request, view=self)
        return paginator.get_paginated_response([_item(output) for output in page])
