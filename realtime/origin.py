"""Which pages may open a websocket: the exact origin (scheme, host and port) of this site.

Channels' `AllowedHostsOriginValidator` compares host names only, so a page served from any port
of an allowed host (`http://127.0.0.1:9999`, another app on the same machine) could open our
sockets with the visitor's cookies. This compares what Django's own CSRF origin check compares:
the Origin must be one of `CSRF_TRUSTED_ORIGINS`, or the origin the socket was opened at (its
`Host` header, when that host is allowed), scheme and port included.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}

Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of an origin such as `https://example.org:8443`; None if malformed."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port:
        return None
    return parts.scheme, parts.hostname.lower(), port


def _own_origin(scope: dict[str, Any], host_header: str) -> Origin | None:
    host, port = split_domain_port(host_header)
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return None
    scheme = _HTTP_SCHEME.get(scope.get("scheme", "ws"), "http")
    return scheme, host.strip("[]").lower(), int(port) if port else _DEFAULT_PORTS[scheme]


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers") or [])
    origin = parse_origin(headers.get(b"origin", b"").decode("latin1"))
    if origin is None:
        return False
    trusted = {parse_origin(value) for value in settings.CSRF_TRUSTED_ORIGINS}
    if origin in trusted:
        return True
    host_header = headers.get(b"host", b"").decode("latin1")
    return bool(host_header) and origin == _own_origin(scope, host_header)


class SameOriginValidator:
    """ASGI middleware: refuses (403 at the handshake) a websocket from any other origin."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
