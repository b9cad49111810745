"""Gates every HTML request passes: good standing, MFA for staff, accepted terms for testers."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from access.models import User
from access.selectors import terms_accepted_version

# Paths every signed-in user may reach whatever their MFA or terms (standing is checked first).
# The API checks MFA and terms itself (access.api.permissions, job_submit).
OPEN_PREFIXES = ("/accounts/", "/static/", "/s/", "/invite/", "/terms/", "/api/")


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
