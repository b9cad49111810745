from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from access.selectors import invitation_from_session


class InvitationAccountAdapter(DefaultAccountAdapter):
    """Signup exists only for visitors who opened a usable invitation link in this session."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return invitation_from_session(request) is not None
