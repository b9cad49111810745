"""Helpers of the tests that run real workers: waiting for the database or a log to catch up, and
finding a worker's pool process."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

from tests.conftest import WAIT_SCALE, ManagedProcess

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """The first truthy value `predicate` returns within `timeout` seconds (on an idle machine:
    stretched by WAIT_SCALE)."""
    deadline = time.monotonic() + timeout * WAIT_SCALE
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout * WAIT_SCALE} s waiting for {what}")


def pool_child(worker: ManagedProcess) -> int:
    """The worker's one pool process (retried: a killed child is replaced within moments)."""

    def child() -> int | None:
        found = subprocess.run(
            ["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return int(found[0]) if len(found) == 1 else None

    return wait_for(child, 10, "the worker's pool process")
