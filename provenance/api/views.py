"""Leak traces over the API: POST a suspect file, GET the answer (session auth; tokens have no
trace scope)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.permissions import ActiveTesterWithScopes
from access.api.schema import ERRORS, RATE_LIMIT_HEADERS, problems
from access.api.views import ApiView
from access.http import AuthenticatedRequest
from access.roles import can_trace
from provenance.models import Trace
from provenance.services import TraceError, trace_request


class IsTracer(BasePermission):
    message = "Tracing leaked files is for admins and leak responders."

    def has_permission(self, request, view) -> bool:
        return can_trace(request.user)


def trace_json(trace: Trace) -> dict:
    return {
        "id": str(trace.id),
        "state": trace.state,
        "file": trace.original_name,
        "sha256": trace.sha256,
        "error": trace.error,
        "result": trace.result,
        "created_at": trace.created_at.isoformat(),
        "finished_at": trace.finished_at.isoformat() if trace.finished_at else None,
    }


class TraceSerializer(serializers.Serializer):
    """Documents `trace_json` (the views build the payload themselves)."""

    id = serializers.UUIDField()
    state = serializers.CharField()
    file = serializers.CharField()
    sha256 = serializers.CharField()
    error = serializers.CharField()
    result = serializers.JSONField(allow_null=True, help_text="The matches, once finished.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class TraceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The suspect video or image.")


TRACE_EXAMPLE = {
    "id": "0b7d3c52-41a8-4a0e-9d59-7f2e8c1a6b90",
    "state": "queued",
    "file": "leak.mp4",
    "sha256": "9f2c…",
    "error": "",
    "result": None,
    "created_at": "2026-11-30T14:05:00+00:00",
    "finished_at": None,
}


class TraceListView(ApiView):
    """POST (multipart, field `file`): queue a trace; 202 with its id. Poll GET /traces/<id>/."""

    permission_classes = [ActiveTesterWithScopes, IsTracer]
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="traces_create",
        summary="Trace a leaked file (admins and leak responders; session only)",
        parameters=RATE_LIMIT_HEADERS,
        request={"multipart/form-data": TraceUploadSerializer},
        responses={202: TraceSerializer, **ERRORS, **problems(413, 415)},
        examples=[OpenApiExample("queued", value=TRACE_EXAMPLE, response_only=True)],
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError(
                {"file": ["Attach the suspect file as the multipart field 'file'."]}
            )
        try:
            trace = trace_request(
                chunks=upload.chunks(),
                size=upload.size or 0,
                original_name=upload.name or "",
                by=request.user,
            )
        except TraceError as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        return Response(trace_json(trace), status=202)


class TraceDetailView(ApiView):
    permission_classes = [ActiveTesterWithScopes, IsTracer]

    @extend_schema(
        operation_id="traces_retrieve",
        summary="Read a trace and, once finished, its result",
        parameters=[
            OpenApiParameter("trace_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            *RATE_LIMIT_HEADERS,
        ],
        responses={200: TraceSerializer, **ERRORS, **problems(404)},
        examples=[OpenApiExample("trace", value=TRACE_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, trace_id) -> Response:
        trace = Trace.objects.filter(id=trace_id).first()
        if trace is None:
            raise NotFound("No such trace.")
        return Response(trace_json(trace))
