#!/usr/bin/env python
"""A container healthcheck: GET one of the web server's health URLs; exit 0 on 200, else 1.

Usage: python scripts/probe_health.py [/health/ready] [--port 8000]

Standard library only (it runs every few seconds; starting Django would cost a second of CPU).
A production web process refuses a bare request to 127.0.0.1: the Host is not in
DJANGO_ALLOWED_HOSTS (400) and plain HTTP is redirected to HTTPS (301). So the probe asks as the
proxy does: Host = the first allowed host name, X-Forwarded-Proto = https. The Helm chart's probes
send the same two headers (tests/deploy/ check both against the real middleware stack).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping


def probe_headers(environ: Mapping[str, str]) -> dict[str, str]:
    """The headers a request from inside the container needs to reach the view."""
    allowed = [host.strip() for host in environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")]
    named = [host.lstrip(".") for host in allowed if host and host != "*"]
    headers = {"X-Forwarded-Proto": "https"}
    if named:
        headers["Host"] = named[0]
    return headers


def probe(path: str, *, port: int, timeout: float, environ: Mapping[str, str]) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers=probe_headers(environ)
    )
    try:
        # S310: a fixed http URL on loopback, never a caller-chosen scheme.
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="/health/ready")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    ok = probe(args.path, port=args.port, timeout=args.timeout, environ=os.environ)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
