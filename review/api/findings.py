"""Feedback and findings over the API, through the output page's services: an artist rates their
own output for the lab (`feedback_submit`); red-teamers (and staff) file harm findings
(`finding_file`), see their own (staff see all), and reviewers move them along (`finding_move`)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from access.api.conflict import Conflict
from access.api.lists import page_of, page_response
from access.api.openapi import errors
from access.api.permissions import ActiveTesterWithScopes
from access.api.views import ApiView
from access.fields import ChoiceSerializerField, StrictIntegerSerializerField, TextSerializerField
from access.http import AuthenticatedRequest
from review.api.outputs import visible_output
from review.api.views import IsReviewer
from review.models import Feedback, Finding
from review.selectors import findings_visible_to
from review.services import (
    NOTE_MAX_CHARS,
    ReviewError,
    feedback_submit,
    finding_file,
    finding_move,
)

# --- feedback ----------------------------------------------------------------------------------


class FeedbackSerializer(serializers.Serializer):
    rating = StrictIntegerSerializerField(min_value=1, max_value=5)
    notes = TextSerializerField(required=False, allow_blank=True, default="", max_length=2000)
    updated_at = serializers.DateTimeField(read_only=True)


FEEDBACK_EXAMPLE = {"rating": 4, "notes": "Lovely light; the hands melt at the end."}


class OutputFeedbackView(ApiView):
    """GET: the caller's feedback on their output. POST: give (or replace) it."""

    required_scopes = {"GET": "outputs:read", "POST": "outputs:write"}
    serializer_class = FeedbackSerializer

    @extend_schema(
        operation_id="outputs_feedback_retrieve",
        tags=["feedback"],
        summary="The caller's feedback on one of their outputs",
        responses={200: FeedbackSerializer, **errors(404)},
        examples=[
            OpenApiExample(
                "Given", value={**FEEDBACK_EXAMPLE, "updated_at": "2026-11-30T10:00:00Z"}
            )
        ],
    )
    def get(self, request: AuthenticatedRequest, output_id) -> Response:
        output = visible_output(request, output_id)
        feedback = Feedback.objects.filter(output=output, author=request.user).first()
        if feedback is None:
            raise Http404("No feedback on this output yet.")
        return Response(FeedbackSerializer(feedback).data)

    @extend_schema(
        operation_id="outputs_feedback_create",
        tags=["feedback"],
        summary="Rate one of the caller's outputs for the lab (1-5, optional notes)",
        request=FeedbackSerializer,
        responses={200: FeedbackSerializer, **errors(400, 404)},
        examples=[OpenApiExample("Rating", value=FEEDBACK_EXAMPLE, request_only=True)],
    )
    def post(self, request: AuthenticatedRequest, output_id) -> Response:
        output = visible_output(request, output_id)
        body = FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            feedback = feedback_submit(output=output, by=request.user, **body.validated_data)
        except ReviewError as exc:
            raise serializers.ValidationError({"notes": [str(exc)]}) from None
        return Response(FeedbackSerializer(feedback).data)


# --- findings ----------------------------------------------------------------------------------


class FindingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    output_id = serializers.UUIDField()
    reporter = serializers.EmailField(source="reporter.email")
    category = serializers.ChoiceField(choices=Finding.Category.choices)
    severity = serializers.ChoiceField(choices=Finding.Severity.choices)
    description = serializers.CharField()
    state = serializers.ChoiceField(choices=Finding.State.choices)
    handled_by = serializers.EmailField(source="handled_by.email", allow_null=True)
    resolution_note = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class FindingFileSerializer(serializers.Serializer):
    category = ChoiceSerializerField(choices=Finding.Category.choices)
    severity = ChoiceSerializerField(choices=Finding.Severity.choices)
    description = TextSerializerField(max_length=NOTE_MAX_CHARS)


class FindingMoveSerializer(serializers.Serializer):
    to = ChoiceSerializerField(choices=Finding.State.choices)
    note = TextSerializerField(
        required=False, allow_blank=True, default="", max_length=NOTE_MAX_CHARS
    )


class FindingFilterSerializer(serializers.Serializer):
    state = ChoiceSerializerField(choices=Finding.State.choices, required=False)
    output = serializers.UUIDField(required=False)


FINDING_EXAMPLE = {
    "id": 7,
    "output_id": "5b0c1d7e-8a36-4c0e-9d1e-2f5a4f0c9b11",
    "reporter": "eve@example.com",
    "category": "likeness",
    "severity": "high",
    "description": "The prompt named no one; the face is a well-known actor's.",
    "state": "new",
    "handled_by": None,
    "resolution_note": "",
    "created_at": "2026-11-30T10:00:00Z",
    "updated_at": "2026-11-30T10:00:00Z",
}


class OutputFindingView(ApiView):
    """POST: file a finding on an output the caller can see (red-teamers and staff)."""

    required_scopes = {"POST": "outputs:write"}
    serializer_class = FindingFileSerializer

    @extend_schema(
        operation_id="outputs_findings_create",
        tags=["findings"],
        summary="File a harm finding on an output (red-teamers and staff)",
        request=FindingFileSerializer,
        responses={201: FindingSerializer, **errors(400, 404)},
        examples=[
            OpenApiExample(
                "Likeness",
                value={k: FINDING_EXAMPLE[k] for k in ("category", "severity", "description")},
                request_only=True,
            ),
            OpenApiExample("Filed", value=FINDING_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: AuthenticatedRequest, output_id) -> Response:
        output = visible_output(request, output_id)
        body = FindingFileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            finding = finding_file(output=output, by=request.user, **body.validated_data)
        except ReviewError as exc:
            raise serializers.ValidationError({"description": [str(exc)]}) from None
        return Response(FindingSerializer(finding).data, status=status.HTTP_201_CREATED)


class FindingListView(ApiView):
    """GET: findings the caller filed (reviewers: every finding), newest first."""

    required_scopes = {"GET": "outputs:read"}
    serializer_class = FindingFilterSerializer

    @extend_schema(
        operation_id="findings_list",
        tags=["findings"],
        summary="Findings: the caller's own, or every one for reviewers",
        parameters=[FindingFilterSerializer],
        responses={200: page_of(FindingSerializer), **errors(400)},
        examples=[
            OpenApiExample(
                "One page", value={"next": None, "previous": None, "results": [FINDING_EXAMPLE]}
            )
        ],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = FindingFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        findings = findings_visible_to(request.user).order_by("-created_at", "-id")
        if "state" in filters.validated_data:
            findings = findings.filter(state=filters.validated_data["state"])
        if "output" in filters.validated_data:
            findings = findings.filter(output_id=filters.validated_data["output"])
        return page_response(request, self, findings, FindingSerializer)


def _visible_finding(request: AuthenticatedRequest, finding_id: int) -> Finding:
    finding = findings_visible_to(request.user).filter(pk=finding_id).first()
    if finding is None:
        raise Http404("No such finding.")
    return finding


class FindingDetailView(ApiView):
    required_scopes = {"GET": "outputs:read"}

    @extend_schema(
        operation_id="findings_retrieve",
        tags=["findings"],
        summary="One finding (its reporter's, or any for reviewers)",
        responses={200: FindingSerializer, **errors(404)},
        examples=[OpenApiExample("New", value=FINDING_EXAMPLE)],
    )
    def get(self, request: AuthenticatedRequest, finding_id: int) -> Response:
        return Response(FindingSerializer(_visible_finding(request, finding_id)).data)


class FindingMoveView(ApiView):
    """POST: triage or resolve a finding (reviewers, with a `review:write` token)."""

    permission_classes = [ActiveTesterWithScopes, IsReviewer]
    required_scopes = {"POST": "review:write"}
    serializer_class = FindingMoveSerializer

    @extend_schema(
        operation_id="findings_move",
        tags=["findings", "staff"],
        summary="Triage or resolve a finding (reviewers)",
        request=FindingMoveSerializer,
        responses={200: FindingSerializer, **errors(400, 404, 409)},
        examples=[
            OpenApiExample(
                "Resolve",
                value={"to": "resolved", "note": "Blocked the prompt pattern."},
                request_only=True,
            ),
            OpenApiExample(
                "Resolved",
                value={
                    **FINDING_EXAMPLE,
                    "state": "resolved",
                    "handled_by": "rita@vernissage.local",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: AuthenticatedRequest, finding_id: int) -> Response:
        finding = _visible_finding(request, finding_id)
        body = FindingMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            finding = finding_move(finding=finding, by=request.user, **body.validated_data)
        except ReviewError as exc:
            raise Conflict(str(exc)) from None
        return Response(FindingSerializer(finding).data)
