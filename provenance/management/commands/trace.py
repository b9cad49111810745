"""`manage.py trace FILE`: trace a leaked file here and now; prints one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from provenance.services import TraceError, trace_request, trace_run

CHUNK = 1024 * 1024


class Command(BaseCommand):
    help = "Trace a leaked video or image to its output and tester; prints one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options) -> None:
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        with file.open("rb") as handle:
            try:
                trace = trace_request(
                    chunks=iter(lambda: handle.read(CHUNK), b""),
                    size=file.stat().st_size,
                    original_name=file.name,
                    by=None,
                    send=False,
                )
            except TraceError as exc:
                raise CommandError(str(exc)) from exc
        trace = trace_run(trace_id=trace.id) or trace
        line = {"trace": str(trace.id), "state": trace.state, "error": trace.error, **trace.result}
        self.stdout.write(json.dumps(line, sort_keys=True))
