"""Request rates for the API: DRF throttles keyed by token (or user), with their state in headers.

Every answer of an `ApiView` carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
(seconds until a request is counted off the window) for the throttle closest to refusing; a
refusal is a 429 problem with `Retry-After`. Rates live in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
(environment: API_THROTTLE_RATES, JSON) and are read on every request, so tests may override them.

Throttles run after authentication and permissions (DRF's order): an anonymous or refused request
is answered 401/403 before it is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from access.models import ApiToken

RATE_STATE_ATTR = "_vernissage_rate_limit"


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }


class _CountingThrottle(SimpleRateThrottle):
    """SimpleRateThrottle that reads its rate per request and records where the caller stands."""

    def __init__(self) -> None:  # DRF's reads the rate once, at construction; see allow_request
        pass

    num_requests: int
    duration: int

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return str(rate) if rate else None

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = self.scope_for(request, view) or ""
        self.rate = self.get_rate() if self.scope else None
        if self.rate is None:
            return True
        num_requests, duration = self.parse_rate(self.rate)
        self.num_requests, self.duration = int(num_requests or 0), int(duration or 1)
        allowed = super().allow_request(request, view)
        if getattr(self, "key", None) is not None:
            _record(request, self._state(allowed))
        return allowed

    def scope_for(self, request: Request, view: Any) -> str | None:
        return self.scope

    def _state(self, allowed: bool) -> RateState:
        oldest = self.history[-1] if self.history else self.now
        reset = max(1, round(oldest + self.duration - self.now))
        remaining = max(0, self.num_requests - len(self.history)) if allowed else 0
        return RateState(limit=self.num_requests, remaining=remaining, reset_s=reset)

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"  # each token its own allowance
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ApiRateThrottle(_CountingThrottle):
    """Every API request, per token (or per signed-in user for the studio's own calls)."""

    scope = "api"


class MethodScopedThrottle(_CountingThrottle):
    """A stricter rate for some methods of a view: `throttle_scopes = {"POST": "job_submit"}`."""

    def scope_for(self, request: Request, view: Any) -> str | None:
        return getattr(view, "throttle_scopes", {}).get(request.method)


def _record(request: Request, state: RateState) -> None:
    """Keep the state of the throttle closest to refusing: that is the one a client must heed."""
    current: RateState | None = getattr(request, RATE_STATE_ATTR, None)
    if current is None or state.remaining < current.remaining:
        setattr(request, RATE_STATE_ATTR, state)


def rate_headers(request: Request) -> dict[str, str]:
    state: RateState | None = getattr(request, RATE_STATE_ATTR, None)
    return state.headers() if state else {}
