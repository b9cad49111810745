"""The error every job service raises for a request that breaks a rule."""

from __future__ import annotations


class JobRejected(Exception):
    """A submission that breaks a rule; `errors` maps each field to readable messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors
