from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from access.models import ApiToken, User
from access.selectors import client_ip, token_lookup
from access.services import token_observe_use, token_record_use
from config.logs import bind_log_context


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer vern_…`: a personal API token of an active tester.

    Expired or revoked tokens, and tokens of users who are not in good standing, are refused with
    401 on every request: nothing is cached between requests.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != self.keyword.lower():  # auth schemes are case-insensitive (RFC 9110)
            return None
        token = token_lookup(credential.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid API token.")
        if token.suspended_at is not None:
            raise exceptions.AuthenticationFailed(
                f"This API token is suspended: {token.suspension_reason}"
            )
        if not token.is_usable:
            raise exceptions.AuthenticationFailed("This API token is expired or revoked.")
        user = token.user
        if not user.is_active or user.standing_now != User.Standing.ACTIVE:
            raise exceptions.AuthenticationFailed("This account's access has ended.")
        ip = client_ip(request._request)
        token_record_use(token=token, ip=ip)
        if not token_observe_use(
            token=token, ip=ip, user_agent=request.headers.get("User-Agent", "")
        ):
            raise exceptions.AuthenticationFailed(
                "This API token was just suspended: it is being used from too many places."
            )
        bind_log_context(user_id=user.pk)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
