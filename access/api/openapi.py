"""What the API's schema says about errors, shared by every view's `extend_schema`.

Every operation lists the error answers it can give, each with an example, so a client author
reads from the schema alone which status means what. The body is RFC 9457 problem details
(`type`, `title`, `status`, `detail`, per-field `errors`).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

ERROR_TITLES = {
    400: "Bad request: a field is missing or malformed; `errors` names it.",
    401: "No credentials, or an API token that is invalid, expired, revoked or suspended.",
    403: "Signed in, but this account, role or token scope may not do this now.",
    404: "No such object, or not one this account may see.",
    409: "The object's state does not allow this now (already decided, claimed by another).",
    410: "The signed download link has expired: ask the API for a new one.",
}

_EXAMPLE_DETAILS = {
    400: ("Invalid input.", {"rating": ["A valid integer is required."]}),
    401: ("This API token is expired or revoked.", {}),
    403: ("This token lacks the scope 'outputs:read'.", {}),
    404: ("No such output.", {}),
    409: ("This output was already approved.", {}),
    410: ("This download link has expired.", {}),
}


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="A URI naming the kind of problem.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    # A field, not Serializer.errors: the serializer metaclass takes declared fields off the class.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per field (or `__all__`), what is wrong with it.",
    )


def _example(status: int) -> OpenApiExample:
    detail, errors = _EXAMPLE_DETAILS[status]
    value = {"type": "about:blank", "title": detail, "status": status, "detail": detail}
    if errors:
        value["errors"] = errors
    return OpenApiExample(f"{status} example", value=value, response_only=True)


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for `extend_schema(responses={...})`: always 401 and 403 (every endpoint
    needs an account), plus the `statuses` given."""
    return {
        status: OpenApiResponse(
            response=ProblemSerializer,
            description=ERROR_TITLES[status],
            examples=[_example(status)],
        )
        for status in sorted({401, 403, *statuses})
    }
