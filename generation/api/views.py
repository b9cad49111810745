from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from access.api.pagination import BoundedLimitOffsetPagination
from access.api.views import ApiView
from access.fields import TextSerializerField
from access.http import AuthenticatedRequest
from generation.api.serializers import JobCancelSerializer, JobSubmitSerializer
from generation.progress import job_event, job_payloads
from generation.selectors import job_visible_to, jobs_of
from generation.services import JobRejected, job_cancel, job_submit

IDEMPOTENCY_HEADER = "Idempotency-Key"


class JobListView(ApiView):
    """GET: the caller's jobs, newest first. POST: submit a job (Idempotency-Key optional)."""

    required_scopes = {"GET": "jobs:read", "POST": "jobs:write"}
    serializer_class = JobSubmitSerializer

    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(jobs_of(owner=request.user), request, view=self)
        if page is None:  # LimitOffsetPagination pages whenever PAGE_SIZE is set
            raise ImproperlyConfigured("REST_FRAMEWORK['PAGE_SIZE'] must be set.")
        return paginator.get_paginated_response(job_payloads(list(page)))

    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = JobSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job, created = job_submit(
                owner=request.user,
                request=serializer.to_request(),
                client_token=_idempotency_key(request),
            )
        except JobRejected as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        # No queue position here: placing one job means ordering the model's whole queue, which
        # would make every submission wait on the others. It arrives with the dispatcher's queue
        # update on the sockets, and with any GET of the job.
        return Response(job_event(job).as_dict(), status=code)


def _idempotency_key(request: AuthenticatedRequest) -> str:
    """The optional header, parsed like any other text the API takes."""
    field = TextSerializerField(required=False, allow_blank=True, max_length=64)
    try:
        return field.run_validation(request.headers.get(IDEMPOTENCY_HEADER, ""))
    except ValidationError as exc:
        raise ValidationError({IDEMPOTENCY_HEADER: exc.detail}) from None


class JobDetailView(ApiView):
    required_scopes = {"GET": "jobs:read"}

    def get(self, request: AuthenticatedRequest, job_id) -> Response:
        job = job_visible_to(job_id=job_id, user=request.user)
        if job is None:
            raise Http404("No such job.")
        return Response(job_payloads([job])[0])


class JobCancelView(ApiView):
    required_scopes = {"POST": "jobs:write"}
    serializer_class = JobCancelSerializer

    def post(self, request: AuthenticatedRequest, job_id) -> Response:
        job = job_visible_to(job_id=job_id, user=request.user)
        if job is None:
            raise Http404("No such job.")
        serializer = JobCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = job_cancel(job=job, by=request.user, reason=serializer.validated_data["reason"])
        except JobRejected as exc:
            return Response(exc.errors, status=status.HTTP_409_CONFLICT)
        return Response(job_payloads([job])[0])
