"""Gates every request passes: no NUL byte in the URL; for HTML, good standing, MFA for staff,
accepted terms for testers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from urllib.parse import unquote

import redis
from django.contrib import messages
from django.contrib.auth import logout
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from access.models import User
from access.selectors import terms_accepted_version
from access.wording import access_ended_kind, access_ended_words
from config.logs import REQUEST_ID_PATTERN, bind_log_context, clear_log_context

logger = logging.getLogger(__name__)

# Paths every signed-in user may reach whatever their MFA or terms (standing is checked first).
# The API checks MFA and terms itself (access.api.permissions, job_submit); health probes and
# metrics are for machines (ops.views), never a reason to send someone to the 2FA page. The
# program page too: it is where a tester reads what changed in new terms before accepting.
OPEN_PREFIXES = (
    "/accounts/",
    "/static/",
    "/s/",
    "/invite/",
    "/terms/",
    "/program/",
    "/api/",
    "/health/",
    "/metrics",
)


class RequestIdMiddleware:
    """Give every request an id, bound to every log line it causes and sent back as `X-Request-ID`.

    A client's (or proxy's) `X-Request-ID` is kept when it looks like an id, so one id can follow a
    request from the edge; otherwise a new one is made. The signed-in user joins the context once
    authentication has run (`process_view`; the API's token authentication binds its own user).
    The id is also stored on the jobs the request submits, so the dispatcher and the worker that
    run the job log it too.
    """

    header = "X-Request-ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(self.header, "")
        request_id = given if REQUEST_ID_PATTERN.fullmatch(given) else uuid.uuid4().hex
        clear_log_context()  # nothing of an earlier request on this thread
        bind_log_context(request_id=request_id)
        response = self.get_response(request)
        response[self.header] = request_id
        return response

    def process_view(self, request: HttpRequest, *args: object) -> None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            bind_log_context(user_id=user.pk)


class NulByteMiddleware:
    """Refuse with 400 any request whose path or query string holds a NUL byte.

    A backstop, not the fix: every door parses its input through a form or serializer whose text
    fields refuse control characters (`access.fields`). It exists because a NUL is never part of a
    legitimate URL of ours, yet Django routes and decodes it like any character, and a door that
    forgets its form passes it on to PostgreSQL (which refuses NUL in text: a 500) or into a
    `Location` header (which the ASGI server refuses to send: a 500 again). Refusing it here, first,
    keeps that whole class of mistake a clean 400. Bodies are left to the forms: reading them here
    would defeat streaming uploads and the upload size limits.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in unquote(query):
            return HttpResponseBadRequest(
                "Bad request: the URL contains a NUL byte.", content_type="text/plain"
            )
        return self.get_response(request)


OUTAGE_RETRY_AFTER_SECONDS = 30


def _outage_cause(exc: Exception) -> str | None:
    """Which service a request failed on, if it failed because a service is away."""
    if isinstance(exc, redis.RedisError | ConnectionError):
        return "the cache and message broker (Redis)"
    if isinstance(exc, OperationalError | InterfaceError):
        return "the database"
    return None


class OutageMiddleware:
    """An outage of PostgreSQL or Redis is a 503 naming the service, with `Retry-After`, not a 500
    traceback: the request did nothing (its transaction, if any, rolled back), and trying again in
    a little while is the right thing to do. Any other exception stays a 500: a bug.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        return outage_response(request, exc)


def outage_response(request: HttpRequest, exc: BaseException | None) -> HttpResponse | None:
    """503 naming the service that is away, or None when `exc` is not an outage. The page needs
    neither the database nor Redis (no user, no session, no messages)."""
    cause = _outage_cause(exc) if isinstance(exc, Exception) else None
    if cause is None:
        return None
    logger.warning("503 for %s: %s is unavailable (%s)", request.path, cause, exc)
    message = f"Vernissage is briefly unavailable: {cause} cannot be reached. Try again shortly."
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        response = render(request, "unavailable.html", {"message": message}, status=503)
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    return response


class StandingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            refusal = (
                self._refusal(request, request.user) if request.user.is_authenticated else None
            )
        except (OperationalError, InterfaceError, redis.RedisError) as exc:
            # The session, the user or the standing could not be read: the database is away.
            refusal = outage_response(request, exc)
        return refusal if refusal is not None else self.get_response(request)

    def _refusal(self, request: HttpRequest, user: User) -> HttpResponse | None:
        standing = user.standing_now
        if standing != User.Standing.ACTIVE:
            kind, reason = access_ended_kind(user), user.access_ended_reason
            logout(request)
            return render(
                request,
                "access/access_ended.html",
                {"standing": standing, "reason": reason, "words": access_ended_words(kind)},
                status=403,
            )
        path = request.path
        if path.startswith(OPEN_PREFIXES):
            return None
        # Every page a staff member sees may be a staff page (review, findings, other testers'
        # outputs, admin): all of them wait for MFA, not just a list of prefixes.
        if user.mfa_missing():
            messages.warning(request, "Staff accounts need two-factor authentication first.")
            return redirect(f"{reverse('mfa_activate_totp')}?next={path}")
        if not user.is_staff and terms_accepted_version(user) is None:
            return redirect(f"{reverse('terms')}?next={path}")
        return None
