"""Gates every request passes: no NUL byte in the URL; for HTML, good standing, MFA for staff,
accepted terms for testers."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse

from access.models import User
from access.selectors import terms_accepted_version

# Paths every signed-in user may reach whatever their MFA or terms (standing is checked first).
# The API checks MFA and terms itself (access.api.permissions, job_submit).
OPEN_PREFIXES = ("/accounts/", "/static/", "/s/", "/invite/", "/terms/", "/api/")


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


class StandingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            refusal = self._refusal(request, user)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def _refusal(self, request: HttpRequest, user: User) -> HttpResponse | None:
        standing = user.standing_now
        if standing != User.Standing.ACTIVE:
            logout(request)
            return render(
                request,
                "access/access_ended.html",
                {"standing": standing, "reason": user.access_ended_reason},
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
