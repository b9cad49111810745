"""The error every job service raises for a request that breaks a rule."""

from __future__ import annotations

from datetime import datetime


class JobRejected(Exception):
    """A submission that breaks a rule; `errors` maps each field to readable messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class QuotaExceeded(JobRejected):
    """A submission refused because a quota is used up: which one, and when it renews (None when
    it renews as jobs finish rather than at a time)."""

    def __init__(self, *, quota: str, message: str, resets_at: datetime | None) -> None:
        super().__init__({"__all__": [message]})
        self.quota = quota
        self.message = message
        self.resets_at = resets_at


class IdempotencyConflict(JobRejected):
    """A client_token seen before, sent with a different request: neither the first job (the
    caller asked for something else) nor a new one (the caller said it is the same request)."""

    def __init__(self, *, job_id: str) -> None:
        super().__init__({"client_token": ["This key was first used with a different request."]})
        self.job_id = job_id
