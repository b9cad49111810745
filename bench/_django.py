"""Shared set-up for benchmarks: Django against a throw-away copy of the DATABASE_URL database."""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first (and the pipeline pulls in torch, which only the GPU paths should pay for).

from __future__ import annotations

import os
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
