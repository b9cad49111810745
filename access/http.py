"""What doors share about HTTP: the request types of signed-in doors, and the answer to input that
did not parse.

The request types are a type-checking distinction only (django-stubs' documented pattern): at run
time the request is still Django's (or DRF's) own class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import NON_FIELD_ERRORS
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from rest_framework.request import Request

from access.fields import forbidden_characters
from access.models import User

# Pages with a form. Every view names its methods, outermost (before login_required), so a
# method it does not take is 405 for everyone, signed in or not: `require_safe` (GET and HEAD),
# `require_POST`, or this.
require_safe_or_POST = require_http_methods(["GET", "HEAD", "POST"])


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a view behind `login_required`: its user is a signed-in `User`."""

    user: User


class AuthenticatedRequest(Request):
    """The request of an API view behind `ActiveTesterWithScopes` (the default permission)."""

    user: User


def form_errors(form: BaseForm) -> dict[str, list[str]]:
    """A bound form's errors, field name to messages (`__all__` for the form as a whole)."""
    return {field: [str(message) for message in errors] for field, errors in form.errors.items()}


def problems(errors: Mapping[str, Iterable[str]]) -> list[str]:
    """Errors as sentences that name the field: `note: Control characters are not allowed …`."""
    return [
        str(message) if field == NON_FIELD_ERRORS else f"{field}: {message}"
        for field, messages in errors.items()
        for message in messages
    ]


def refused(request: HttpRequest, form: BaseForm, *, status: int = 400) -> HttpResponse:
    """The answer to a request whose input did not parse: 400 naming each field that is wrong,
    as JSON for the pages' fetch() calls and as a page for a browser's form post. The view
    refuses before calling any service, so nothing was stored."""
    errors = form_errors(form)
    listed = problems(errors)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {"ok": False, "message": " ".join(listed), "errors": errors}, status=status
        )
    return render(request, "bad_request.html", {"problems": listed}, status=status)


def safe_next_url(request: HttpRequest, target: str, default: str) -> str:
    """`target` if it is a path on this site with no control characters in it, else `default`:
    a form's `next` is never where an attacker (or a NUL byte) sends a redirect, and never a word
    that `redirect()` would try, and fail, to reverse as a view name."""
    if not target.startswith("/") or forbidden_characters(target):
        return default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default
