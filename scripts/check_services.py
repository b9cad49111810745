"""Make sure Redis (and PostgreSQL, when DATABASE_URL names it) answer before starting anything.

On a development machine with the server installed but stopped, start it; otherwise say exactly
what is missing instead of letting the web server or worker fail later with a stack trace.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "{port}",
    "--save",
    "",
    "--appendonly",
    "no",
]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(host, port):
            return True
        time.sleep(0.2)
    return False


def ensure_redis(url: str) -> str | None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    if reachable(host, port):
        return None
    if host in ("127.0.0.1", "localhost") and shutil.which("redis-server"):
        subprocess.run([arg.format(port=port) for arg in REDIS_START], check=False)
        if wait_for(host, port):
            print(f"Started redis-server on {host}:{port}")
            return None
    return f"Redis is not reachable at {host}:{port} (REDIS_URL={url}). Start it, or set REDIS_URL."


def ensure_postgres(url: str) -> str | None:
    parsed = urlparse(url)
    if not parsed.scheme.startswith("postgres"):
        return None
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 5432
    if reachable(host, port):
        return None
    if (
        host in ("127.0.0.1", "localhost")
        and shutil.which("pg_ctlcluster")
        and os.path.isdir("/etc/postgresql")
    ):
        for version in os.listdir("/etc/postgresql"):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
            )
        if wait_for(host, port):
            print(f"Started PostgreSQL on {host}:{port}")
            return None
    return f"PostgreSQL is not reachable at {host}:{port} (DATABASE_URL). Start it."


def main() -> int:
    problems = [
        ensure_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")),
        ensure_postgres(os.environ.get("DATABASE_URL", "")),
    ]
    problems = [p for p in problems if p]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
