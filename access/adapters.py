from __future__ import annotations

import base64
import hashlib

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter as MFAAdapter
from cryptography.fernet import Fernet
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import resolve_url

from access.roles import home_for
from access.selectors import invitation_from_session


class InvitationAccountAdapter(DefaultAccountAdapter):
    """Signup exists only for visitors who opened a usable invitation link in this session."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return invitation_from_session(request) is not None

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """Where signing in lands when no `next` says otherwise: each role's own first page.
        (allauth honours a safe `next` before asking.)"""
        return resolve_url(home_for(request.user))


class EncryptingMFAAdapter(MFAAdapter):
    """TOTP secrets and recovery-code seeds are encrypted at rest (allauth stores them as is)."""

    def _fernet(self) -> Fernet:
        material = settings.MFA_ENCRYPTION_KEY or f"mfa:{settings.SECRET_KEY}"
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))

    def encrypt(self, text: str) -> str:
        return self._fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return self._fernet().decrypt(encrypted_text.encode()).decode()
