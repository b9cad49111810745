"""Containment over the API, for access managers' own tools (an `access:admin` staff token or a
session): suspend, revoke or reinstate a tester, suspend or reinstate a cohort, pause or resume
the program. Exactly what the staff pages call (`containment.services`, access's reinstatement
services), so the same steps run and the same audit entries are written."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from access.api.conflict import Conflict
from access.api.openapi import errors
from access.api.permissions import ActiveTesterWithScopes
from access.api.views import ApiView
from access.fields import ChoiceSerializerField, TextSerializerField
from access.http import AuthenticatedRequest
from access.models import Cohort, User
from access.services import (
    MANAGE_ACCESS_PERMISSION,
    AccessError,
    cohort_reinstate,
    program_resume,
    tester_reinstate,
)
from containment.services import (
    Containment,
    cohort_suspend,
    program_pause,
    tester_revoke,
    tester_suspend,
)

ENDING_ACTIONS = ("suspend", "revoke", "pause")


class IsAccessManager(BasePermission):
    message = "Containment is for staff who manage access."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user.is_active) and user.has_perm(MANAGE_ACCESS_PERMISSION)


def _action_serializer(name: str, actions: tuple[str, ...]) -> type[serializers.Serializer]:
    """A body of `action` (one of `actions`) and `reason` (required where access ends)."""

    def validate(self: serializers.Serializer, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["action"] in ENDING_ACTIONS and not attrs["reason"].strip():
            raise serializers.ValidationError(
                {
                    "reason": [
                        "A reason is required: it is shown to the people affected and audited."
                    ]
                }
            )
        return attrs

    fields = {
        "action": ChoiceSerializerField(choices=[(a, a) for a in actions]),
        "reason": TextSerializerField(required=False, allow_blank=True, default="", max_length=500),
        "validate": validate,
    }
    return type(name, (serializers.Serializer,), fields)


TesterActionSerializer = _action_serializer(
    "TesterActionSerializer", ("suspend", "revoke", "reinstate")
)
CohortActionSerializer = _action_serializer("CohortActionSerializer", ("suspend", "reinstate"))
ProgramActionSerializer = _action_serializer("ProgramActionSerializer", ("pause", "resume"))


class ReportSerializer(serializers.Serializer):
    """What a containment action ended (the numbers its audit entry records)."""

    testers = serializers.IntegerField()
    sessions_ended = serializers.IntegerField()
    queued_jobs_cancelled = serializers.IntegerField()
    running_jobs_stopped = serializers.IntegerField()
    share_links_down = serializers.IntegerField()
    tokens_revoked = serializers.IntegerField()


class ContainmentResultSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=[(s, s) for s in ("tester", "cohort", "program")])
    target = serializers.CharField(help_text="The tester's email, the cohort's name, or program.")
    action = serializers.CharField()
    report = ReportSerializer(
        allow_null=True, help_text="What ended (null for reinstating or resuming)."
    )


def _result(scope: str, target: str, action: str, report: Containment | None) -> Response:
    body = {
        "scope": scope,
        "target": target,
        "action": action,
        "report": report.as_dict() if report else None,
    }
    return Response(ContainmentResultSerializer(body).data)


REPORT_EXAMPLE = {
    "testers": 1,
    "sessions_ended": 2,
    "queued_jobs_cancelled": 3,
    "running_jobs_stopped": 1,
    "share_links_down": 4,
    "tokens_revoked": 2,
}


def _schema(operation_id: str, summary: str, request, example_request: dict, scope: str):
    return extend_schema(
        operation_id=operation_id,
        tags=["staff"],
        summary=summary,
        request=request,
        responses={200: ContainmentResultSerializer, **errors(400, 404, 409)},
        examples=[
            OpenApiExample("Request", value=example_request, request_only=True),
            OpenApiExample(
                "Contained",
                value={
                    "scope": scope,
                    "target": "ada@example.com" if scope == "tester" else scope,
                    "action": example_request["action"],
                    "report": REPORT_EXAMPLE,
                },
                response_only=True,
            ),
        ],
    )


class ContainmentView(ApiView):
    permission_classes = [ActiveTesterWithScopes, IsAccessManager]
    required_scopes = {"POST": "access:admin"}


class TesterContainmentView(ContainmentView):
    serializer_class = TesterActionSerializer

    @_schema(
        "containment_tester",
        "Suspend, revoke (for good: tokens too) or reinstate one tester",
        TesterActionSerializer,
        {"action": "revoke", "reason": "Posted outputs publicly"},
        "tester",
    )
    def post(self, request: AuthenticatedRequest, user_id: int) -> Response:
        tester = User.objects.filter(pk=user_id, is_staff=False).first()
        if tester is None:
            raise Http404("No such tester.")
        body = TesterActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        action, reason = body.validated_data["action"], body.validated_data["reason"]
        report = None
        try:
            if action == "reinstate":
                tester_reinstate(tester=tester, by=request.user, reason=reason)
            else:
                contain = tester_suspend if action == "suspend" else tester_revoke
                report = contain(tester=tester, by=request.user, reason=reason)
        except AccessError as exc:
            raise Conflict(str(exc)) from None
        return _result("tester", tester.email, action, report)


class CohortContainmentView(ContainmentView):
    serializer_class = CohortActionSerializer

    @_schema(
        "containment_cohort",
        "Suspend or reinstate a cohort",
        CohortActionSerializer,
        {"action": "suspend", "reason": "A leak from this cohort"},
        "cohort",
    )
    def post(self, request: AuthenticatedRequest, cohort_id: int) -> Response:
        cohort = Cohort.objects.filter(pk=cohort_id).first()
        if cohort is None:
            raise Http404("No such cohort.")
        body = CohortActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        action, reason = body.validated_data["action"], body.validated_data["reason"]
        report = None
        try:
            if action == "suspend":
                report = cohort_suspend(cohort=cohort, by=request.user, reason=reason)
            else:
                cohort_reinstate(cohort=cohort, by=request.user)
        except AccessError as exc:
            raise Conflict(str(exc)) from None
        return _result("cohort", cohort.name, action, report)


class ProgramContainmentView(ContainmentView):
    serializer_class = ProgramActionSerializer

    @_schema(
        "containment_program",
        "Pause (the kill switch: every tester out at once) or resume the program",
        ProgramActionSerializer,
        {"action": "pause", "reason": "Investigating a leak"},
        "program",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        body = ProgramActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        action, reason = body.validated_data["action"], body.validated_data["reason"]
        report = None
        try:
            if action == "pause":
                report = program_pause(by=request.user, reason=reason)
            else:
                program_resume(by=request.user)
        except AccessError as exc:
            raise Conflict(str(exc)) from None
        return _result("program", "program", action, report)
