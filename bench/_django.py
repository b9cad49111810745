"""Shared set-up for benchmarks: Django against a throw-away copy of the DATABASE_URL database."""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first (and the pipeline pulls in torch, which only the GPU paths should pay for).

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
os.environ.setdefault("DJANGO_DEBUG", "0")
# The machine's PostgreSQL unless told otherwise (the benchmarks make their own database there).
os.environ.setdefault(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vernissage"
)  # measure what production runs: no query logging


def procfile_command(name: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The Procfile's command line for `name`, run from ROOT as `make run` runs it: `${VAR:-x}`
    takes VAR from `env` (else x), and leading `VAR=value` words are added to a copy of `env`.
    Benches start the web server with this, so they measure what the Procfile serves."""
    prefix = f"{name}:"
    line = next(
        line[len(prefix) :]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(prefix)
    )
    expanded = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1], m[2]), line)
    words, env = shlex.split(expanded), dict(env)
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return words, env


def setup_django_with_bench_db():
    """Create (and migrate) `<name>_bench` next to the configured database; returns a teardown."""
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to PostgreSQL, e.g. postgres://postgres@127.0.0.1/vernissage")
    original = connection.settings_dict["NAME"]
    # Not test_<name>: the test suite uses that one, and both may run at once.
    connection.settings_dict["TEST"]["NAME"] = f"{original}_bench"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    return lambda: connection.creation.destroy_test_db(original, verbosity=0)
