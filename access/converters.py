"""Path converters: a URL that cannot name an object does not reach a view.

Invitation codes and share tokens are `secrets.token_urlsafe` strings; anything else in their
place (a NUL byte, a 1 MB string, a slash-free path of control characters) is a 404 from the
resolver instead of a database lookup that may not survive it.
"""

from __future__ import annotations

TOKEN_MAX_CHARS = 128


class TokenConverter:
    regex = f"[A-Za-z0-9_-]{{1,{TOKEN_MAX_CHARS}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
