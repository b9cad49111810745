"""Reviewing over the API, for reviewers' own tools (a `review:write` staff token or a session):
claim, decide (approve, reject, needs changes, withdraw) and decide in bulk: exactly the review
page's services, so the same four-eyes rules, audit entries, emails and live updates follow.
The queue itself is GET /review/queue/ (`review.api.views`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from access.api.conflict import Conflict
from access.api.openapi import errors
from access.api.permissions import ActiveTesterWithScopes
from access.api.views import ApiView
from access.fields import ChoiceSerializerField, StrictBooleanSerializerField, TextSerializerField
from access.http import AuthenticatedRequest
from review.api.outputs import ReviewSerializer, visible_output
from review.api.views import IsReviewer
from review.forms import BULK_MAX_ITEMS
from review.models import Output
from review.services import (
    NOTE_MAX_CHARS,
    ReviewError,
    output_approve,
    output_claim,
    output_reject,
    output_release,
    output_request_changes,
    output_withdraw,
    outputs_bulk_decide,
)

DECISIONS = ("approve", "reject", "changes", "withdraw")
BULK_DECISIONS = ("approve", "reject")


class ReviewerView(ApiView):
    permission_classes = [ActiveTesterWithScopes, IsReviewer]
    required_scopes = {"POST": "review:write"}


class ClaimSerializer(serializers.Serializer):
    release = StrictBooleanSerializerField(
        required=False, default=False, help_text="true: give the claim back."
    )


class ClaimStateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=Output.State.choices)
    claimed_by = serializers.EmailField(source="claimed_by.email", allow_null=True)
    claim_expires_at = serializers.DateTimeField(allow_null=True)


class ReviewClaimView(ReviewerView):
    serializer_class = ClaimSerializer

    @extend_schema(
        operation_id="review_claim",
        tags=["staff"],
        summary="Claim an output awaiting review for a few minutes (or release it)",
        request=ClaimSerializer,
        responses={200: ClaimStateSerializer, **errors(400, 404, 409)},
        examples=[
            OpenApiExample("Claim", value={}, request_only=True),
            OpenApiExample("Release", value={"release": True}, request_only=True),
            OpenApiExample(
                "Claimed",
                value={
                    "id": "5b0c1d7e-8a36-4c0e-9d1e-2f5a4f0c9b11",
                    "state": "pending",
                    "claimed_by": "rita@vernissage.local",
                    "claim_expires_at": "2026-11-30T10:15:00Z",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: AuthenticatedRequest, output_id) -> Response:
        output = visible_output(request, output_id)
        body = ClaimSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            if body.validated_data["release"]:
                output_release(output=output, by=request.user)
            else:
                output_claim(output=output, by=request.user)
        except ReviewError as exc:
            raise Conflict(str(exc)) from None
        output = Output.objects.select_related("claimed_by").get(pk=output.pk)
        return Response(ClaimStateSerializer(output).data)


def _check_reason_and_note(data: dict[str, Any]) -> dict[str, Any]:
    """What each decision needs, named by field (the services say the same, as a 409 would)."""
    decision, reason, note = data["decision"], data.get("reason", ""), data.get("note", "")
    if decision == "reject" and reason not in settings.REVIEW_REJECT_REASONS:
        choices = "; ".join(settings.REVIEW_REJECT_REASONS)
        raise serializers.ValidationError(
            {"reason": [f"Rejecting needs a reason, one of: {choices}."]}
        )
    needs_note = decision in ("changes", "withdraw") or reason.startswith("Other")
    if decision != "approve" and needs_note and not note.strip():
        raise serializers.ValidationError({"note": [f"A note is required to {decision}."]})
    return data


class DecisionSerializer(serializers.Serializer):
    decision = ChoiceSerializerField(choices=[(d, d) for d in DECISIONS])
    reason = TextSerializerField(required=False, allow_blank=True, default="", max_length=200)
    note = TextSerializerField(
        required=False, allow_blank=True, default="", max_length=NOTE_MAX_CHARS
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return _check_reason_and_note(attrs)


class DecidedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    review = ReviewSerializer(source="*")


def _decide(output: Output, by, decision: str, reason: str, note: str) -> Output:
    if decision == "approve":
        return output_approve(output=output, by=by)
    if decision == "reject":
        return output_reject(output=output, by=by, reason=reason, note=note)
    if decision == "changes":
        return output_request_changes(output=output, by=by, note=note)
    return output_withdraw(output=output, by=by, reason=note)


class ReviewDecisionView(ReviewerView):
    serializer_class = DecisionSerializer

    @extend_schema(
        operation_id="review_decide",
        tags=["staff"],
        summary="Approve, reject, ask for changes, or withdraw an approval",
        request=DecisionSerializer,
        responses={200: DecidedSerializer, **errors(400, 404, 409)},
        examples=[
            OpenApiExample("Approve", value={"decision": "approve"}, request_only=True),
            OpenApiExample(
                "Reject",
                value={"decision": "reject", "reason": "Real person's likeness", "note": ""},
                request_only=True,
            ),
            OpenApiExample(
                "Needs changes",
                value={"decision": "changes", "note": "Crop the logo out."},
                request_only=True,
            ),
        ],
    )
    def post(self, request: AuthenticatedRequest, output_id) -> Response:
        output = visible_output(request, output_id)
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            output = _decide(output, request.user, **body.validated_data)
        except ReviewError as exc:
            raise Conflict(str(exc)) from None
        return Response(DecidedSerializer(output).data)


class BulkDecisionSerializer(serializers.Serializer):
    output_ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=BULK_MAX_ITEMS
    )
    decision = ChoiceSerializerField(choices=[(d, d) for d in BULK_DECISIONS])
    reason = TextSerializerField(required=False, allow_blank=True, default="", max_length=200)
    note = TextSerializerField(
        required=False, allow_blank=True, default="", max_length=NOTE_MAX_CHARS
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return _check_reason_and_note(attrs)


class BulkOutcomeSerializer(serializers.Serializer):
    done = serializers.ListField(child=serializers.UUIDField())
    errors = serializers.DictField(  # type: ignore[assignment]  # a field: see ProblemSerializer
        child=serializers.CharField(), help_text="Per output id, why it was not decided."
    )


class ReviewBulkView(ReviewerView):
    serializer_class = BulkDecisionSerializer

    @extend_schema(
        operation_id="review_bulk_decide",
        tags=["staff"],
        summary="Approve or reject several outputs; each is decided (or refused) on its own",
        request=BulkDecisionSerializer,
        responses={200: BulkOutcomeSerializer, **errors(400)},
        examples=[
            OpenApiExample(
                "Approve two",
                value={
                    "output_ids": [
                        "5b0c1d7e-8a36-4c0e-9d1e-2f5a4f0c9b11",
                        "0f6c1a52-3e1b-4a43-a7d4-8d2e8cb1f0aa",
                    ],
                    "decision": "approve",
                },
                request_only=True,
            ),
            OpenApiExample(
                "One refused",
                value={
                    "done": ["5b0c1d7e-8a36-4c0e-9d1e-2f5a4f0c9b11"],
                    "errors": {
                        "0f6c1a52-3e1b-4a43-a7d4-8d2e8cb1f0aa": "Nobody reviews their own output."
                    },
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        body = BulkDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = [str(output_id) for output_id in body.validated_data.pop("output_ids")]
        outcome = outputs_bulk_decide(output_ids=ids, by=request.user, **body.validated_data)
        missing = set(ids) - set(outcome.done) - set(outcome.errors)
        errors_by_id = {**outcome.errors, **{i: "No such output." for i in sorted(missing)}}
        return Response(BulkOutcomeSerializer({"done": outcome.done, "errors": errors_by_id}).data)
