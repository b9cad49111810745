"""Fixtures of the operations tests: log lines as an operator's log shipper would read them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from config.logs import clear_log_context, structured_formatter
from generation.models import Job
from review.models import Output
from tests.factories import make_job


def output_row(owner, *, state: str = Output.State.PENDING) -> Output:
    """An output row of a succeeded job, without files: for what only counts rows."""
    job = make_job(owner, state=Job.State.SUCCEEDED)
    return Output.objects.create(
        job=job,
        video_name=f"{owner.id}/{job.id}/1/video.mp4",
        poster_name=f"{owner.id}/{job.id}/1/poster.jpg",
        sha256="0" * 64,
        size_bytes=1,
        width=32,
        height=32,
        num_frames=5,
        fps=8,
        state=state,
    )


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
