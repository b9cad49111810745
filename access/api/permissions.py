from __future__ import annotations

from rest_framework.permissions import BasePermission

from access.models import ApiToken, User


class ActiveTesterWithScopes(BasePermission):
    """Signed in, in good standing, and (when the request uses an API token) holding the scopes
    the view declares in `required_scopes = {"GET": "jobs:read", "POST": "jobs:write"}`.

    Session requests (the studio's own JavaScript) are not scope-limited.
    """

    message = "This account's access has ended."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if not user.is_active or user.standing_now != User.Standing.ACTIVE:
            return False
        if user.mfa_missing():
            self.message = "Staff accounts need two-factor authentication first."
            return False
        if isinstance(request.auth, ApiToken):
            needed = getattr(view, "required_scopes", {}).get(request.method)
            if needed is None or needed not in request.auth.scopes:
                self.message = (
                    f"This token lacks the scope {needed!r}."
                    if needed
                    else ("API tokens cannot use this endpoint.")
                )
                return False
        return True
