"""What the caller may ask for: the models of their cohort (with the limits that apply to them)
and what is left of their budget today. The studio page shows the same two things."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from access.api.openapi import errors
from access.api.views import ApiView
from access.http import AuthenticatedRequest
from generation.quotas import Budget, Limits, budget_for, limits_for
from generation.registry import PARAM_KEYS, ModelSpec, enabled_models


class ParamsSerializer(serializers.Serializer):
    num_frames = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    steps = serializers.IntegerField()
    guidance = serializers.FloatField()


class ModelSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What `model` takes when submitting a job.")
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    fps = serializers.IntegerField(help_text="Frames per second of the videos it makes.")
    defaults = ParamsSerializer(help_text="Used for every parameter a job leaves out.")
    limits = ParamsSerializer(help_text="The most this caller may ask for (cohort and model).")
    max_concurrent_jobs = serializers.IntegerField(allow_null=True)
    max_queued_jobs = serializers.IntegerField(allow_null=True)


class ModelListSerializer(serializers.Serializer):
    models = ModelSerializer(many=True)


class BudgetSerializer(serializers.Serializer):
    jobs_waiting = serializers.IntegerField(help_text="Queued and running jobs now.")
    jobs_waiting_limit = serializers.IntegerField(allow_null=True, help_text="null: no limit.")
    job_slots_left = serializers.IntegerField(allow_null=True)
    gpu_seconds_used_today = serializers.FloatField()
    gpu_seconds_per_day = serializers.IntegerField(allow_null=True, help_text="null: no limit.")
    gpu_seconds_left = serializers.FloatField(allow_null=True)
    resets_at = serializers.DateTimeField(help_text="When today's GPU-seconds renew (00:00 UTC).")


def _model_json(spec: ModelSpec, limits: Limits) -> dict:
    bounds = {key: getattr(limits, key) for key in PARAM_KEYS}
    return {
        "name": spec.name,
        "label": spec.label,
        "fps": spec.fps,
        # A default above this caller's limit would be refused: it is cut to the limit, as
        # job_submit cuts it.
        "defaults": {key: min(getattr(spec.defaults, key), bounds[key]) for key in PARAM_KEYS},
        "limits": bounds,
        "max_concurrent_jobs": limits.max_concurrent_jobs,
        "max_queued_jobs": limits.max_queued_jobs,
    }


MODEL_EXAMPLE = {
    "name": "wan-1.3b",
    "label": "Wan 2.1 1.3B",
    "fps": 16,
    "defaults": {"num_frames": 33, "width": 832, "height": 480, "steps": 30, "guidance": 5.0},
    "limits": {"num_frames": 81, "width": 832, "height": 832, "steps": 50, "guidance": 12.0},
    "max_concurrent_jobs": 1,
    "max_queued_jobs": 5,
}


class ModelListView(ApiView):
    """GET: the models the caller's cohort may use, with their defaults and the caller's limits."""

    required_scopes = {"GET": "jobs:read"}

    @extend_schema(
        operation_id="models_list",
        tags=["models"],
        summary="Models the caller may use",
        responses={200: ModelListSerializer, **errors()},
        examples=[OpenApiExample("One model", value={"models": [MODEL_EXAMPLE]})],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        usable = [
            _model_json(spec, limits)
            for spec in enabled_models()
            if (limits := limits_for(request.user, spec)) is not None
        ]
        return Response(ModelListSerializer({"models": usable}).data)


def _budget_json(budget: Budget) -> dict:
    return {
        "jobs_waiting": budget.waiting,
        "jobs_waiting_limit": budget.waiting_limit,
        "job_slots_left": budget.slots_left,
        "gpu_seconds_used_today": budget.gpu_seconds_used_today,
        "gpu_seconds_per_day": budget.gpu_seconds_per_day,
        "gpu_seconds_left": budget.gpu_seconds_left,
        "resets_at": budget.resets_at,
    }


class BudgetView(ApiView):
    """GET: the caller's quotas, used and left, and when the daily one renews."""

    required_scopes = {"GET": "jobs:read"}

    @extend_schema(
        operation_id="budget_retrieve",
        tags=["models"],
        summary="The caller's quotas: used, left, and when they reset",
        responses={200: BudgetSerializer, **errors()},
        examples=[
            OpenApiExample(
                "Half used",
                value={
                    "jobs_waiting": 1,
                    "jobs_waiting_limit": 6,
                    "job_slots_left": 5,
                    "gpu_seconds_used_today": 900.0,
                    "gpu_seconds_per_day": 1800,
                    "gpu_seconds_left": 900.0,
                    "resets_at": "2026-12-01T00:00:00Z",
                },
            )
        ],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(BudgetSerializer(_budget_json(budget_for(request.user))).data)
