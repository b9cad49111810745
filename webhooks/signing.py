"""Standard Webhooks signatures (https://www.standardwebhooks.com/) and the secret's storage.

A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes. A delivery carries
`webhook-id`, `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`:
`v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet
from django.conf import settings

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(*, secret: str, message_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }


def _fernet() -> Fernet:
    material = settings.WEBHOOK_SECRET_KEY.encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))


def secret_seal(secret: str) -> str:
    """The secret as stored: encrypted, because signing needs it back (unlike a token digest)."""
    return _fernet().encrypt(secret.encode()).decode()


def secret_open(sealed: str) -> str:
    return _fernet().decrypt(sealed.encode()).decode()
