"""The review queue over the API, for reviewers' own tools (session or staff token auth)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.pagination import BoundedLimitOffsetPagination
from access.api.permissions import ActiveTesterWithScopes
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


class ReviewQueueView(ApiView):
    """GET: outputs awaiting review, filtered like the queue page (`?model=&cohort=&tester=&lane=
    &min_age_hours=`) and paged (`?limit=&offset=`)."""

    permission_classes = [ActiveTesterWithScopes, IsReviewer]
    required_scopes = {"GET": "outputs:read"}

    def get(self, request: Request) -> Response:
        form = QueueFilterForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(review_queue(form.filters()), request, view=self)
        if page is None:  # LimitOffsetPagination pages whenever PAGE_SIZE is set
            raise ImproperlyConfigured("REST_FRAMEWORK['PAGE_SIZE'] must be set.")
        return paginator.get_paginated_response([_item(output) for output in page])
