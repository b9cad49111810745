"""What a GPU worker does with one job: claim it, render, encode, store, finish.

Runs only in Celery worker processes; torch comes in through `generation.pipeline.runner`, imported
here lazily so that importing this module (e.g. via tasks autodiscovery) stays cheap.

The worker is an entry point: it finishes a job (generation) and registers its output for review
(review) in one transaction, `job_finalize`, so neither app has to import the other upward.
"""

from __future__ import annotations

import errno
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)

from config.logs import log_context
from generation.marks import mark_frames, sign_delivered
from generation.models import Job
from generation.outputs_store import output_files_discard, output_files_store
from generation.pipeline.previews import CONTENT_TYPES, encode_preview
from generation.pipeline.video import encode_video
from generation.progress import publish_preview
from generation.registry import ModelSpec, get_model
from generation.services import (
    job_fail,
    job_heartbeat,
    job_record_progress,
    job_retry,
    job_start,
    job_succeed,
)
from generation.services.dispatch import job_log_context
from review.services import output_files_registered, output_register

logger = logging.getLogger(__name__)
# Worth another attempt; anything else (bad input, CUDA out of memory, a bug) fails the job.
TRANSIENT_ERRORS = (ConnectionError, TimeoutError, InterfaceError, OperationalError)
DATABASE_ERRORS = (InterfaceError, OperationalError)
PREVIEW_CONTENT_TYPE = CONTENT_TYPES["WEBP"]


def job_execute(*, job_id: UUID, dispatch_id: UUID, worker: str) -> str:
    """Run one job to a final state; returns the state it ended in (or why it did not run)."""
    with log_context(job_id=job_id, dispatch_id=dispatch_id):
        job = job_start(job_id=job_id, dispatch_id=dispatch_id, worker=worker)
        if job is None:
            logger.info("Job not runnable by this message")
            return "not runnable"
        with log_context(**job_log_context(job)):
            logger.info("Job started (attempt %s) on %s", job.attempt, worker)
            state = _execute(job)
            logger.info("Job ended: %s", state)
            return state


def _execute(job: Job) -> str:
    spec = get_model(job.model_name)
    if spec is None:
        job_fail(job=job, reason=f"Model {job.model_name!r} is no longer configured.")
        return Job.State.FAILED
    with Heartbeat(job):
        return _run(job, spec)


def _run(job: Job, spec: ModelSpec) -> str:
    try:
        return _render_and_store(job, spec)
    except SoftTimeLimitExceeded:
        job_fail(job=job, reason="The job ran past its time limit and was stopped.")
    except TRANSIENT_ERRORS as exc:
        # Storage, network or database hiccups: run it again (bounded by JOB_MAX_ATTEMPTS).
        logger.warning("Job %s hit a transient error, will retry: %s", job.id, exc)
        return _retry(job, exc)
    except Exception as exc:
        logger.exception("Job %s failed", job.id)
        job_fail(job=job, reason=describe_failure(exc))
    return Job.State.FAILED


def _retry(job: Job, exc: BaseException) -> str:
    """Requeue after a transient error. A database error leaves this thread's connection broken:
    drop it first, so the requeue itself reaches the database (or, if the database is still down,
    the reconciler requeues the silent run once it is back)."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()
    try:
        return "retrying" if job_retry(job=job, reason=describe_failure(exc)) else Job.State.FAILED
    except (InterfaceError, OperationalError):
        logger.warning("Job %s: database still unreachable; the reconciler will requeue it", job.id)
        return "retry pending"


class Heartbeat:
    """Beats for the current run every JOB_HEARTBEAT_SECONDS from a thread of its own, whatever
    the worker is doing (loading the pipeline, denoising, decoding, encoding, storing), so a slow
    but healthy run is never taken for a dead worker, and a dead one is noticed in seconds."""

    def __init__(self, job: Job) -> None:
        self.job, self.stop = job, threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(timeout=settings.JOB_HEARTBEAT_SECONDS * 2)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    job_heartbeat(job=self.job)
                except (InterfaceError, OperationalError):
                    connection.close()  # the database is away; beat again when it is back
        finally:
            connection.close()  # this thread's own connection


def _render_and_store(job: Job, spec: ModelSpec) -> str:
    # Lazy on purpose: this is where torch and diffusers enter the worker process (never the web).
    from generation.pipeline.runner import RenderCancelled, RenderRequest, load_pipeline, render

    request = RenderRequest(
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        seed=job.seed,
        num_frames=job.num_frames,
        width=job.width,
        height=job.height,
        steps=job.steps,
        guidance_scale=job.guidance,
    )
    load_pipeline(spec)  # once per worker child; not charged to the tester (render reuses it)
    started = time.monotonic()
    try:
        frames = render(
            spec,
            request,
            lambda step, _total: _record_progress(job, step),
            on_preview=lambda step, _total, preview: _send_preview(job, step, preview),
            preview_every=settings.PREVIEW_EVERY_STEPS,
        )
    except RenderCancelled as stop:
        logger.info("Job %s %s", job.id, stop)  # "cancelled after step k of n": for the record
        return "stopped"
    gpu_seconds = time.monotonic() - started
    fields = _encode_and_store(job, spec, frames)
    return finalize_or_discard(job, fields, gpu_seconds)


def finalize_or_discard(job: Job, fields: dict[str, Any], gpu_seconds: float) -> str:
    """Finalize with the stored files, or remove them: never files without a committed row, and
    never a committed row without its files."""
    try:
        finalized = _finalize_through_outages(job, fields, gpu_seconds)
    except DATABASE_ERRORS:
        # Whether the commit landed is unknown: keep the files. If no row names them, the
        # output sweeper removes them after its grace period.
        logger.warning("Job %s: finalize's outcome is unknown; its files are kept", job.id)
        raise
    except BaseException:
        _discard(fields)  # rolled back for certain: its files must not outlive it
        raise
    if finalized or output_files_registered(job_id=job.id, video_name=fields["video_name"]):
        return Job.State.SUCCEEDED  # (the second: an earlier try's commit landed after all)
    _discard(fields)
    return "superseded"


def _finalize_through_outages(job: Job, fields: dict[str, Any], gpu_seconds: float) -> bool:
    """The render is done and its files are stored: a database outage is waited out for up to
    JOB_FINALIZE_WAIT_SECONDS (the heartbeat keeps the run alive meanwhile) instead of throwing
    the render away and spending another attempt."""
    deadline = time.monotonic() + settings.JOB_FINALIZE_WAIT_SECONDS
    pause = 0.5
    while True:
        try:
            return job_finalize(job=job, output_fields=fields, gpu_seconds=gpu_seconds)
        except DATABASE_ERRORS as exc:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("Job %s: database unreachable at finalize, retrying: %s", job.id, exc)
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def job_finalize(*, job: Job, output_fields: dict[str, Any], gpu_seconds: float) -> bool:
    """Succeed the current run and put its output in the review queue, together or not at all.
    False: this run no longer counts (cancelled or superseded), nothing was registered."""
    with transaction.atomic():
        if not job_succeed(job=job, gpu_seconds=gpu_seconds):
            return False
        output_register(job=job, **output_fields)
    return True


def _record_progress(job: Job, step: int) -> bool:
    """Record a finished step; False stops the render (cancelled or superseded). During a
    database outage the render goes on: the row catches up at the next step that reaches it."""
    try:
        return job_record_progress(job=job, step=step)
    except DATABASE_ERRORS as exc:
        logger.warning("Job %s: could not record step %d, rendering on: %s", job.id, step, exc)
        connection.close()
        return True


def _send_preview(job: Job, step: int, frames) -> None:
    image = encode_preview(frames)
    publish_preview(job, step=step, image=image, content_type=PREVIEW_CONTENT_TYPE)


def _encode_and_store(job: Job, spec: ModelSpec, frames) -> dict:
    """Mark the frames with a fresh serial, encode into a scratch folder, then store both files
    into private storage. Marking happens here, after the render has let go of the GPU, and before
    the poster is cut, so no unmarked picture of the output ever exists on disk."""
    frames, mark = mark_frames(frames)
    folder = f"{job.owner_id}/{job.id}/{job.attempt}"
    with tempfile.TemporaryDirectory(prefix="vernissage-") as scratch:
        video, poster = Path(scratch, "video.mp4"), Path(scratch, "poster.jpg")
        encode_video(frames, fps=spec.fps, video_path=video, poster_path=poster)
        sign_delivered(video, serial=mark.serial)  # C2PA: AI-generated, the serial, our signature
        stored = output_files_store(folder=folder, video=video, poster=poster)  # hashed once, here
    return {
        **stored,
        "width": job.width,
        "height": job.height,
        "num_frames": int(frames.shape[0]),
        "fps": spec.fps,
        **mark.as_output_fields(),
    }


def _discard(fields: dict) -> None:
    """Remove a run's files, and its folders if nothing else is left in them."""
    output_files_discard(names=(fields["video_name"], fields["poster_name"]))


STORAGE_ERRORS = {
    errno.ENOSPC: "the server's storage is full",
    errno.EDQUOT: "the server's storage quota is used up",
    errno.EROFS: "the server's storage is read-only",
    errno.EACCES: "the server may not write to its storage",
    errno.EIO: "the server's storage failed",
}


def describe_failure(exc: BaseException) -> str:
    """A reason a tester can read (never a server path); the traceback goes to the worker log."""
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
        why = STORAGE_ERRORS.get(exc.errno or 0, "the server could not store the video")
        return f"Generation finished but could not be saved: {why}. The team has been told."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "out of memory" in text.lower():
        return "The GPU ran out of memory for this size; try fewer frames or a smaller size."
    return f"Generation failed ({type(exc).__name__}){': ' + text[:300] if text else ''}."
