"""Gates every HTML request passes: good standing, MFA for staff, accepted terms for testers."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from access.models import User
from access.selectors import terms_accepted_version

# Paths every signed-in user may reach whatever their standing, MFA or terms.
OPEN_PREFIXES = ("/accounts/", "/static/", "/s/", "/invite/", "/terms/", "/api/")
STAFF_PREFIXES = ("/admin/", "/review/", "/staff/")


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
                {"standing": standing, "reason": user.standing_reason},
                status=403,
            )
        path = request.path
        if path.startswith(OPEN_PREFIXES):
            return None
        if user.is_staff and path.startswith(STAFF_PREFIXES) and not is_mfa_enabled(user):
            messages.warning(request, "Staff accounts need two-factor authentication first.")
            return redirect(f"{reverse('mfa_activate_totp')}?next={path}")
        if not user.is_staff and terms_accepted_version(user) is None:
            return redirect(f"{reverse('terms')}?next={path}")
        return None
