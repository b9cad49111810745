"""One error shape for everything under /api/: RFC 9457 problem details.

`{"type", "title", "status", "detail", "errors"}` as `application/problem+json`. DRF's exceptions
reach it through `exception_handler` (settings: REST_FRAMEWORK["EXCEPTION_HANDLER"]); what Django
answers before or around DRF (an unknown /api/ path, a wrong method on a plain view, a body past
DATA_UPLOAD_MAX_MEMORY_SIZE, a refusal from a middleware) is rewritten by `ApiProblemMiddleware`,
so no HTML ever leaves /api/.

`type` is `about:blank` when the status code says it all (RFC 9457 §4.2.1), otherwise one of the
`urn:vernissage:problem:*` names below: stable identifiers, not pages to fetch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"

VALIDATION = "urn:vernissage:problem:validation"
QUOTA_EXCEEDED = "urn:vernissage:problem:quota-exceeded"
RATE_LIMITED = "urn:vernissage:problem:rate-limited"
IDEMPOTENCY_CONFLICT = "urn:vernissage:problem:idempotency-key-reused"
CONFLICT = "urn:vernissage:problem:conflict"

TITLES = {
    VALIDATION: "Invalid request",
    QUOTA_EXCEEDED: "Quota exhausted",
    RATE_LIMITED: "Too many requests",
    IDEMPOTENCY_CONFLICT: "Idempotency-Key reused with a different request",
    CONFLICT: "Not possible in the current state",
}


def problem(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    errors: Mapping[str, Any] | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """The body of one problem; `extensions` are extra members (e.g. `quota`, `resets_at`)."""
    body: dict[str, Any] = {
        "type": type_,
        "title": TITLES.get(type_) or _phrase(status),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = dict(errors)
    body.update(extensions)
    return body


def problem_response(status: int, detail: str, **kwargs: Any) -> HttpResponse:
    """A problem outside DRF (middleware, Django's own refusals)."""
    return HttpResponse(
        json.dumps(problem(status, detail, **kwargs)),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


class ProblemResponse(Response):
    """A DRF Response carrying a problem, rendered as JSON with the problem media type."""

    def __init__(self, status: int, detail: str, **kwargs: Any) -> None:
        super().__init__(problem(status, detail, **kwargs), status=status)
        self.content_type = PROBLEM_CONTENT_TYPE


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, WWW-Authenticate, Retry-After), then the body as a problem."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API exception: Django's handlers (and the middleware) take it
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        body = problem(
            response.status_code, _validation_summary(errors), type_=VALIDATION, errors=errors
        )
    else:
        detail = getattr(exc, "detail", "") or _phrase(response.status_code)
        type_ = RATE_LIMITED if isinstance(exc, exceptions.Throttled) else "about:blank"
        body = problem(response.status_code, str(detail), type_=type_)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _field_errors(detail: Any) -> dict[str, list[str]]:
    """Field → messages; errors that belong to no field go under `non_field_errors`."""
    if isinstance(detail, Mapping):
        return {str(key): _messages(value) for key, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value: Any) -> list[str]:
    if isinstance(value, Mapping):  # a nested serializer: flatten to "child: message"
        return [f"{k}: {m}" for k, v in value.items() for m in _messages(v)]
    if isinstance(value, list | tuple):
        return [m for item in value for m in _messages(item)]
    return [str(value)]


def _validation_summary(errors: Mapping[str, list[str]]) -> str:
    general = [*errors.get("non_field_errors", []), *errors.get("__all__", [])]
    if general:
        return " ".join(general)
    return "Invalid value for: " + ", ".join(sorted(errors)) + "."


class ApiProblemMiddleware:
    """Every error answered under /api/ leaves as a problem, whoever produced it.

    DRF's answers already are; Django's (404 for an unknown path, 400 for a body past the upload
    limit, 405 from a plain view) and the middlewares' (HTML or `{"detail": …}` JSON) are rewritten
    with their status, headers and, where there was one, their `detail`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE):
            return response
        return _as_problem(response)


def _as_problem(response: HttpResponse) -> HttpResponse:
    status = response.status_code
    detail, errors = _old_detail(response)
    replacement = problem_response(status, detail or _default_detail(status), errors=errors)
    for header in ("Retry-After", "Allow", "WWW-Authenticate", "X-Request-ID", "Vary"):
        if header in response:
            replacement[header] = response[header]
    for name, value in response.items():
        if name.lower().startswith("ratelimit-"):
            replacement[name] = value
    replacement.cookies = response.cookies  # a sign-out's expired session cookie, for one
    return replacement


def _old_detail(response: HttpResponse) -> tuple[str, dict[str, Any] | None]:
    """The message of a JSON error body (`detail`, or field errors) or a short plain-text one;
    nothing from HTML."""
    content_type = response.get("Content-Type", "")
    if getattr(response, "streaming", False):
        return "", None
    if content_type.startswith("text/plain"):
        text = response.content.decode(errors="replace").strip()
        return (text, None) if 0 < len(text) <= 500 else ("", None)
    if "json" not in content_type:
        return "", None
    try:
        body = json.loads(response.content)
    except ValueError:
        return "", None
    if not isinstance(body, dict):
        return "", None
    if isinstance(body.get("detail"), str):
        return body["detail"], None
    errors = _field_errors(body)
    return _validation_summary(errors), errors


def _default_detail(status: int) -> str:
    return {
        404: "No API endpoint at this address; see /api/v1/docs/.",
        405: "This endpoint does not accept this method; see the Allow header.",
        400: "The request could not be read (too large or malformed).",
        403: "This account's access has ended.",  # the standing check, before any API view
        413: "The request body is too large.",
    }.get(status, _phrase(status))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a code http.HTTPStatus does not name
        return "Error"
