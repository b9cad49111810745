"""Tracing a leaked file: take it in (checked), run the trace on the CPU queue, answer, audit.

`trace_request` stores the suspect file and its row, and after commit sends the trace's id to the
CPU queue; `trace_run` (the task, or `manage.py trace` in-process) reads the file's marks and
writes the answer. `trace_contain` is the result page's "Contain this tester": the containment
service, named after the trace that found them.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from access.models import User
from access.roles import can_trace
from access.services import audit_record
from containment.services import Containment, tester_suspend
from provenance import audit
from provenance.analysis import UnreadableSuspect, analyse
from provenance.indexing import fingerprints_index
from provenance.models import Trace
from realtime import groups
from realtime.events import TraceEvent
from realtime.publisher import publish

logger = logging.getLogger(__name__)

TRACE_TASK = "provenance.run_trace"
# What a suspect file may be, by its first bytes: the containers and images ffmpeg reads here.
SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", ".mp4"),  # MP4, MOV, M4V, 3GP
    (0, b"\x1a\x45\xdf\xa3", ".mkv"),  # Matroska, WebM
    (0, b"\xff\xd8\xff", ".jpg"),
    (0, b"\x89PNG\r\n\x1a\n", ".png"),
    (0, b"GIF8", ".gif"),
)
ACCEPTED = "MP4/MOV, WebM/MKV, JPEG, PNG, WebP or GIF"


class TraceError(ValueError):
    """The suspect file cannot be traced; the message says why (shown to the requester)."""


def require_tracer(user: User | None) -> None:
    """None is an operator at the command line."""
    if user is not None and not can_trace(user):
        raise PermissionDenied("Tracing leaked files is for admins and leak responders.")


def suspect_suffix(head: bytes) -> str:
    """The file's kind from its first bytes, or a TraceError naming what is accepted."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    for offset, magic, suffix in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return suffix
    raise TraceError(f"The file is not a video or image this tool reads ({ACCEPTED}).")


def _check_size(size: int) -> None:
    if size == 0:
        raise TraceError("The file is empty.")
    if size > settings.TRACE_MAX_UPLOAD_BYTES:
        limit = settings.TRACE_MAX_UPLOAD_BYTES // (1024 * 1024)
        raise TraceError(f"The file is larger than {limit} MB.")


def trace_request(
    *, chunks: Iterable[bytes], size: int, original_name: str, by: User | None, send: bool = True
) -> Trace:
    """Store a suspect file and queue its trace. `chunks` is the file's content (an upload's
    `.chunks()`); its kind and size are checked before anything is stored."""
    require_tracer(by)
    _check_size(size)
    trace_id = uuid.uuid4()
    stored, digest, written = _store(trace_id, chunks)
    try:
        with transaction.atomic():
            trace = Trace.objects.create(
                id=trace_id,
                requested_by=by,
                file_name=stored,
                original_name=original_name[:200],
                size_bytes=written,
                sha256=digest,
            )
            audit_record(
                action=audit.TRACE_REQUESTED,
                actor=by,
                target=trace,
                details={"file": trace.original_name, "sha256": digest, "bytes": written},
            )
            if send:
                transaction.on_commit(lambda: _send(trace))
    except BaseException:
        storages["outputs"].delete(stored)
        raise
    return trace


def _store(trace_id: uuid.UUID, chunks: Iterable[bytes]) -> tuple[str, str, int]:
    """Write the file into private storage (never a public folder), checking as it arrives."""
    storage = storages["outputs"]
    digest, written, suffix = hashlib.sha256(), 0, None
    with tempfile.NamedTemporaryFile(prefix="vernissage-trace-", delete=False) as scratch:
        try:
            for chunk in chunks:
                if suffix is None:
                    suffix = suspect_suffix(chunk[:16])
                written += len(chunk)
                _check_size(written)
                digest.update(chunk)
                scratch.write(chunk)
        except BaseException:
            Path(scratch.name).unlink(missing_ok=True)
            raise
    if suffix is None:
        Path(scratch.name).unlink(missing_ok=True)
        raise TraceError("The file is empty.")
    name = f"traces/{trace_id}/suspect{suffix}"
    destination = Path(storage.path(name))
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(scratch.name, destination)  # /tmp may be another filesystem
    destination.chmod(0o600)
    return name, digest.hexdigest(), written


def _send(trace: Trace) -> None:
    from config.celery import app

    app.send_task(TRACE_TASK, args=[str(trace.id)], queue=settings.TRACE_QUEUE)


def trace_payload(trace: Trace, stage: str = "") -> dict[str, Any]:
    """What the trace's page shows live (its socket's snapshot and every event)."""
    return TraceEvent(
        id=str(trace.id),
        state=trace.state,
        state_label=trace.get_state_display(),
        stage=stage,
        final=trace.is_final,
    ).as_dict()


def _announce(trace: Trace, stage: str = "") -> None:
    """Tell the trace's page where it is (best effort: the page also reloads when it ends)."""
    publish(TraceEvent(**trace_payload(trace, stage)), groups=[groups.trace_group(trace.id)])


def trace_run(*, trace_id: uuid.UUID) -> Trace | None:
    """Run a queued trace to DONE or FAILED; None if it is not queued (a duplicate message).
    Its page hears each read as it starts (`analyse`'s stages) and the end."""
    if not Trace.objects.filter(id=trace_id).transition(Trace.State.RUNNING):
        return None
    trace = Trace.objects.get(id=trace_id)
    _announce(trace, "Indexing outputs new since the last trace")
    fingerprints_index(limit=settings.TRACE_INDEX_BATCH)  # outputs new since the last trace
    try:
        report = analyse(
            Path(storages["outputs"].path(trace.file_name)),
            stage=lambda words: _announce(trace, words),
        )
    except UnreadableSuspect as exc:
        return _finish(trace, Trace.State.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("Trace %s failed", trace.id)
        return _finish(trace, Trace.State.FAILED, error=f"The trace failed ({type(exc).__name__}).")
    return _finish(trace, Trace.State.DONE, report=report)


def _finish(
    trace: Trace, state: str, *, report: dict[str, Any] | None = None, error: str = ""
) -> Trace:
    report = report or {}
    found = report.get("identified") or {}
    changes = {
        "result": report,
        "error": error,
        "finished_at": timezone.now(),
        "serial": found.get("serial"),
        "output_id": found.get("output"),
        "share_link_id": found.get("share_link"),
        "tester_id": found.get("tester_id"),
    }
    with transaction.atomic():
        Trace.objects.filter(id=trace.id).transition(state, **changes)
        trace.refresh_from_db()
        audit_record(
            action=audit.TRACE_FINISHED,
            actor=trace.requested_by,
            target=trace,
            details={
                "state": state,
                "serial": trace.serial,
                "output": str(trace.output_id) if trace.output_id else None,
                "share_link": trace.share_link_id,
                "tester": trace.tester.email if trace.tester else None,
                "error": error,
            },
        )
        transaction.on_commit(lambda: _announce(trace))
    return trace


def trace_contain(*, trace: Trace, by: User, reason: str = "") -> Containment:
    """Suspend the tester a trace named (reversible; revoking stays on the Testers page)."""
    require_tracer(by)
    if trace.tester is None:
        raise TraceError("This trace named no tester.")
    why = reason.strip() or f"Leak trace {trace.id}: serial {trace.serial}"
    return tester_suspend(tester=trace.tester, by=by, reason=why)
