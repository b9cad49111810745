from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter as MFAAdapter
from cryptography.fernet import Fernet
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import resolve_url

from access.models import User
from access.roles import home_for
from access.selectors import invitation_from_session

SIGNED_IN_MESSAGE = "account/messages/logged_in.txt"


class InvitationAccountAdapter(DefaultAccountAdapter):
    """Signup exists only for visitors who opened a usable invitation link in this session."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return invitation_from_session(request) is not None

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """Where signing in lands when no `next` says otherwise: each role's own first page.
        (allauth honours a safe `next` before asking.)"""
        return resolve_url(home_for(request.user))

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """Signing in is itself a proof of presence: for the reauthentication timeout after it
        (password, then the second factor if any), sensitive pages do not ask for the password
        again. allauth alone counts only explicit reauthentications."""
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        request = self.request or context.request
        return request is None or not signed_in_recently(request)

    def add_message(
        self,
        request: HttpRequest,
        level: int,
        message_template: str | None = None,
        message_context: dict[str, Any] | None = None,
        extra_tags: str = "",
        message: str | None = None,
    ) -> None:
        """No "Signed in" above the page that says access ended and the session was closed."""
        if message_template == SIGNED_IN_MESSAGE and not _may_act(request):
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message)


def signed_in_recently(request: HttpRequest) -> bool:
    """Whether this session's last authentication step (sign-in, second factor or
    reauthentication) happened within allauth's reauthentication timeout."""
    records = get_authentication_records(request, getattr(request, "user", None))
    if not records:
        return False
    at = records[-1].get("at")
    return (
        isinstance(at, int | float) and time.time() - at < account_settings.REAUTHENTICATION_TIMEOUT
    )


def _may_act(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return not isinstance(user, User) or user.may_act()


class EncryptingMFAAdapter(MFAAdapter):
    """TOTP secrets and recovery-code seeds are encrypted at rest (allauth stores them as is)."""

    def _fernet(self) -> Fernet:
        material = settings.MFA_ENCRYPTION_KEY or f"mfa:{settings.SECRET_KEY}"
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))

    def encrypt(self, text: str) -> str:
        return self._fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return self._fernet().decrypt(encrypted_text.encode()).decode()
