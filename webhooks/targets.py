"""Where a webhook may go: http(s) URLs whose host resolves only to public addresses.

Checked at registration and again at every send, on the addresses the request then uses (a name
that resolved to a public address yesterday may resolve to 127.0.0.1 today: DNS rebinding). The
transport connects to the very address checked here, never resolving the name a second time.
Private, loopback, link-local, multicast, reserved and unspecified addresses (IPv4, IPv6 and
IPv4-mapped IPv6) are refused unless WEBHOOK_ALLOWED_HOSTS names the host or
WEBHOOK_ALLOWED_CIDRS holds the address.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from socket import getaddrinfo
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = {"http": 80, "https": 443}


class UnsafeTarget(ValueError):
    """The URL may not receive webhooks; the message says why (shown to the owner)."""


class Unresolvable(UnsafeTarget):
    """The host did not resolve: perhaps for now only (a send retries; a registration refuses)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query, as sent in the request line
    address: str  # the checked address the request connects to


def target_parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an absolute http(s) URL without credentials."""
    if any(char.isspace() for char in url):
        raise UnsafeTarget("The URL may not contain spaces.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"The URL is malformed ({exc}).") from None
    if parts.scheme not in SCHEMES:
        raise UnsafeTarget("The URL must start with https:// (or http://).")
    if not parts.hostname:
        raise UnsafeTarget("The URL names no host.")
    if parts.username or parts.password:
        raise UnsafeTarget("The URL may not carry a user name or password.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname.lower(), port or SCHEMES[parts.scheme], path


def target_resolve(url: str) -> Target:
    """The URL's target at one address that is allowed; UnsafeTarget when any is not."""
    scheme, host, port, path = target_parse(url)
    addresses = _resolve(host, port)
    if host not in settings.WEBHOOK_ALLOWED_HOSTS:
        for address in addresses:
            if not address_allowed(address):
                raise UnsafeTarget(
                    f"{host} resolves to {address}, a private or reserved address; "
                    "webhooks go to public addresses only."
                )
    return Target(scheme, host, port, path, str(addresses[0]))


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        found = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"The host {host} does not resolve ({exc}).") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise Unresolvable(f"The host {host} does not resolve.")
    return addresses


def address_allowed(address: IPAddress) -> bool:
    if any(address in network for network in _allowed_networks()):
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_allowed(address.ipv4_mapped)
    refused = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return address.is_global and not refused


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.WEBHOOK_ALLOWED_CIDRS]
