"""Fixtures of the operations tests: log lines as an operator's log shipper would read them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from config.logs import clear_log_context, structured_formatter


class JsonLines:
    """Every record logged while the fixture is active, rendered as the production JSON lines."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def find(self, message_start: str) -> dict:
        found = [line for line in self.lines() if line["message"].startswith(message_start)]
        assert found, f"no log line starting {message_start!r} in {self.lines()}"
        return found[-1]


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    captured = JsonLines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(structured_formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        clear_log_context()
