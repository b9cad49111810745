"""What every API operation documents in the OpenAPI schema besides its own success: the problem
responses, the rate-limit headers and the bearer scheme. Annotate an operation with

    @extend_schema(responses={200: JobSerializer, **ERRORS, **problems(404)},
                   parameters=RATE_LIMIT_HEADERS)

`ERRORS` holds what any authenticated operation may answer (400, 401, 403, 429, 503); `problems()`
adds the codes particular to one (404, 409, 422, …), each as `application/problem+json`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers

from access.api.problems import (
    IDEMPOTENCY_CONFLICT,
    PROBLEM_CONTENT_TYPE,
    QUOTA_EXCEEDED,
    RATE_LIMITED,
    VALIDATION,
    problem,
)
from access.api.views import MethodFirstMixin


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details: the body of every error under /api/."""

    type = serializers.CharField(help_text="A URI naming the kind of problem, or `about:blank`.")
    title = serializers.CharField(help_text="A short summary of the kind of problem.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What went wrong with this request, for people.")
    # The metaclass takes declared fields off the class, so this does not hide `.errors`.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name → messages, for an invalid request.",
    )
    quota = serializers.CharField(required=False, help_text="The quota that is used up (429).")
    resets_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the quota renews (429), if at a time."
    )


_DESCRIPTIONS = {
    400: "The request is invalid; `errors` names each field.",
    401: "No credentials, or an invalid, expired, revoked or suspended token.",
    403: "The account or token may not do this (standing, role, or a missing token scope).",
    404: "No such object visible to the caller.",
    409: "Not possible in the object's current state.",
    413: "The request body is too large.",
    415: "The request's Content-Type is not accepted here.",
    422: "The Idempotency-Key was used before with a different request.",
    429: "Too many requests, or a quota is used up; see Retry-After.",
    503: "A service the API needs is briefly unavailable; see Retry-After.",
}

_EXAMPLES: dict[int, dict[str, Any]] = {
    400: problem(
        400,
        "Invalid value for: prompt.",
        type_=VALIDATION,
        errors={"prompt": ["Must be a string, not a number."]},
    ),
    401: problem(401, "Invalid API token."),
    403: problem(403, "This token lacks the scope 'jobs:write'."),
    404: problem(404, "No such job."),
    409: problem(409, "This job has already finished."),
    413: problem(413, "The request body is too large."),
    415: problem(415, 'Unsupported media type "text/plain" in request.'),
    422: problem(
        422,
        "This Idempotency-Key was first used with a different request.",
        type_=IDEMPOTENCY_CONFLICT,
    ),
    429: problem(
        429,
        "Request was throttled. Expected available in 12 seconds.",
        type_=RATE_LIMITED,
    ),
    503: problem(503, "Vernissage is briefly unavailable: the database cannot be reached."),
}

QUOTA_EXAMPLE = problem(
    429,
    "You have used your 600 GPU-seconds for today; the budget renews at 00:00 UTC.",
    type_=QUOTA_EXCEEDED,
    quota="gpu_seconds_per_day",
    resets_at="2026-12-01T00:00:00Z",
)


def problems(*codes: int) -> dict[tuple[int, str], OpenApiResponse]:
    """Problem responses for `codes`, keyed for drf-spectacular's `responses=` by media type."""
    return {
        (code, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            response=ProblemSerializer,
            description=_DESCRIPTIONS[code],
            examples=[
                OpenApiExample(f"problem-{code}", value=_EXAMPLES[code], status_codes=[code])
            ],
        )
        for code in codes
    }


# What any operation behind authentication may answer.
ERRORS = problems(400, 401, 403, 429, 503)

RATE_LIMIT_HEADERS = [
    OpenApiParameter(
        name,
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=True,
        description=description,
    )
    for name, description in (
        ("RateLimit-Limit", "Requests allowed in the current window."),
        ("RateLimit-Remaining", "Requests left in the current window."),
        ("RateLimit-Reset", "Seconds until a request is counted off the window."),
    )
]


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer vern_…` (access.api.authentication)."""

    target_class = "access.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (`vern_…`) made on the Tokens page, with scopes.",
        }


def paginated(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of one cursor page of `item`s (access.api.pagination)."""
    name = item.__name__.removesuffix("Serializer") + "PageSerializer"
    fields = {
        "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
        "previous": serializers.URLField(allow_null=True, help_text="The page before, or null."),
        "results": item(many=True),
    }
    return type(name, (serializers.Serializer,), fields)


class SchemaView(MethodFirstMixin, SpectacularAPIView):
    """The schema at /api/v1/schema/ (YAML, or JSON with `?format=json`)."""


class DocsView(MethodFirstMixin, SpectacularSwaggerView):
    """Swagger UI at /api/v1/docs/, from our own static files."""
