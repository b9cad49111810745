"""Leak traces over the API: POST a suspect file, GET the answer (session auth; tokens have no
trace scope)."""

from __future__ import annotations

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.permissions import ActiveTesterWithScopes
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


class TraceListView(ApiView):
    """POST (multipart, field `file`): queue a trace; 202 with its id. Poll GET /traces/<id>/."""

    permission_classes = [ActiveTesterWithScopes, IsTracer]
    parser_classes = [MultiPartParser]

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

    def get(self, request: Request, trace_id) -> Response:
        trace = Trace.objects.filter(id=trace_id).first()
        if trace is None:
            raise NotFound("No such trace.")
        return Response(trace_json(trace))
