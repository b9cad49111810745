"""What a GPU worker does with one job: claim it and render it, then encode, store and finish it.

Two stages overlap, so the GPU never waits for the CPU between jobs:

- the Celery task (`job_execute`) claims the job, renders it (pixels are converted to uint8 on
  the render's device) and hands the frames to this process's encoding stage; it then returns,
  and the worker takes its next message and starts the next render at once;
- the encoding stage, one thread per worker process, marks the frames (watermark), encodes the
  MP4 and the poster, signs, hashes and stores them, and finalizes the job.

The render path's GPU-seconds (the render, nothing after it) are what the tester is charged.

Exactly once: the stage finalizes through the same conditional UPDATE as before (`job_finalize`,
keyed on the run's attempt), and only after both files are in storage; a job cancelled or
contained meanwhile is refused there and its files removed. Returning from the task acks its
message (acks late), so a worker that dies while a job is in the stage has no message to redeliver
for it: the job is still RUNNING and its heartbeat (beaten for every job this process holds, by one
thread) stops, so the dispatcher's stall check requeues it within JOB_STALL_SECONDS and it runs
again, or fails once its attempts are used up. A worker that shuts down warmly (SIGTERM) finishes
the stage's jobs first (`finish_encoding`, on `worker_process_shutdown`).

Runs only in Celery worker processes; torch comes in through `generation.pipeline.runner`, imported
here lazily so that importing this module (e.g. via tasks autodiscovery) stays cheap.

The worker is an entry point: it finishes a job (generation) and registers its output for review
(review) in one transaction, `job_finalize`, so neither app has to import the other upward.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
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


RENDERED = "rendered"  # what the task returns once the encoding stage holds the job


def job_execute(*, job_id: UUID, dispatch_id: UUID, worker: str) -> str:
    """Claim and render one job, then hand it to this process's encoding stage, which finishes
    it while the worker takes its next job. Returns "rendered" (handed over), the final state the
    job ended in before that, or why it did not run."""
    with log_context(job_id=job_id, dispatch_id=dispatch_id):
        job = job_start(job_id=job_id, dispatch_id=dispatch_id, worker=worker)
        if job is None:
            logger.info("Job not runnable by this message")
            return "not runnable"
        with log_context(**job_log_context(job)):
            logger.info("Job started (attempt %s) on %s", job.attempt, worker)
            state = _execute(job)
            if state == RENDERED:
                logger.info("Job rendered; encoding while the next job renders")
            else:
                logger.info("Job ended: %s", state)
            return state


def _execute(job: Job) -> str:
    spec = get_model(job.model_name)
    if spec is None:
        job_fail(job=job, reason=f"Model {job.model_name!r} is no longer configured.")
        return Job.State.FAILED
    heartbeats.add(job)
    state = ""
    try:
        state = _run(job, spec)
        return state
    finally:
        if state != RENDERED:  # otherwise the stage holds the job, and its heartbeat
            heartbeats.discard(job)


def _run(job: Job, spec: ModelSpec) -> str:
    try:
        return _render_and_hand_over(job, spec)
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


def _render_and_hand_over(job: Job, spec: ModelSpec) -> str:
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
    gpu_seconds = time.monotonic() - started  # the render alone: the encode is not GPU time
    encoding_stage.hand_over(Rendered(job=job, spec=spec, frames=frames, gpu_seconds=gpu_seconds))
    return RENDERED


# --- heartbeats --------------------------------------------------------------------------------


class Heartbeats:
    """Beats every JOB_HEARTBEAT_SECONDS for each run this process holds (the one rendering and
    those in the encoding stage), from a thread of its own, whatever the worker is doing
    (loading the pipeline, denoising, decoding, encoding, storing): a slow but healthy run is
    never taken for a dead worker, and a dead one is noticed in seconds. The thread ends, closing
    its database connection, when the process holds no run."""

    def __init__(self) -> None:
        self._runs: dict[tuple[UUID, int], Job] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, job: Job) -> None:
        with self._changed:
            self._runs[(job.id, job.attempt)] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="heartbeats", daemon=True)
                self._thread.start()

    def discard(self, job: Job) -> None:
        with self._changed:
            self._runs.pop((job.id, job.attempt), None)
            self._changed.notify_all()

    def holds(self, job: Job) -> bool:
        with self._changed:
            return (job.id, job.attempt) in self._runs

    def _beat(self) -> None:
        try:
            while runs := self._wait_for_beat():
                for job in runs:
                    try:
                        job_heartbeat(job=job)
                    except (InterfaceError, OperationalError):
                        connection.close()  # the database is away; beat again when it is back
        finally:
            connection.close()  # this thread's own connection

    def _wait_for_beat(self) -> list[Job]:
        """The runs to beat for now, after a heartbeat interval; [] (and the thread is done) once
        none is held."""
        with self._changed:
            if self._runs:
                self._changed.wait(settings.JOB_HEARTBEAT_SECONDS)  # or a run was let go
            if not self._runs:
                self._thread = None
                return []
            return list(self._runs.values())


heartbeats = Heartbeats()


class Heartbeat:
    """Beats for one run for the duration of a `with` block."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def __enter__(self) -> Heartbeat:
        heartbeats.add(self.job)
        return self

    def __exit__(self, *exc_info: object) -> None:
        heartbeats.discard(self.job)


# --- the encoding stage ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A rendered run on its way to storage: uint8 pixels (F, H, W, 3) and its render time."""

    job: Job
    spec: ModelSpec
    frames: np.ndarray
    gpu_seconds: float


class EncodingStage:
    """One thread per process that finishes rendered jobs (`finish_rendered`), one at a time, in
    the order they were rendered. At most one job waits for it: `hand_over` blocks while one
    does, so a slow encode holds the next render back instead of piling clips up in memory."""

    def __init__(self, finish: Callable[[Rendered], object]) -> None:
        self._finish = finish
        self._changed = threading.Condition()
        self._waiting: Rendered | None = None
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = 0

    def hand_over(self, rendered: Rendered) -> None:
        with self._changed:
            self._start_if_needed()
            self._changed.wait_for(lambda: self._waiting is None)
            self._waiting = rendered
            self._changed.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every job handed over is finished; False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(self._idle, timeout)

    def stop(self, timeout: float | None = None) -> bool:
        """Drain, then end the thread (closing its database connection)."""
        with self._changed:
            drained = self._changed.wait_for(self._idle, timeout)
            self._stopping = True
            self._changed.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return drained

    def _idle(self) -> bool:
        return self._waiting is None and not self._busy

    def _start_if_needed(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        # First use in this process (a prefork child never inherits its parent's thread).
        self._waiting, self._busy, self._stopping, self._pid = None, False, False, os.getpid()
        self._thread = threading.Thread(target=self._serve, name="encoding", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while self._finish_next():
                pass
        finally:
            connection.close()  # this thread's own connection

    def _finish_next(self) -> bool:
        """Finish the next job handed over (its frames are let go of on return); False when the
        stage is stopping and nothing is left."""
        rendered = self._next()
        if rendered is None:
            return False
        try:
            self._finish(rendered)
        except BaseException:
            logger.exception("Encoding stage: job %s not finished", rendered.job.id)
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()
        return True

    def _next(self) -> Rendered | None:
        with self._changed:
            self._changed.wait_for(lambda: self._waiting is not None or self._stopping)
            if self._waiting is None:
                return None
            rendered, self._waiting, self._busy = self._waiting, None, True
            self._changed.notify_all()
            return rendered


def finish_rendered(rendered: Rendered) -> str:
    """What the encoding stage does with one rendered run: store it and finalize it, or end it
    as failed (or requeue it after a transient error). Returns the state it ended in."""
    job = rendered.job
    if not connection.in_atomic_block:  # (a caller's transaction is never cut short)
        close_old_connections()  # like a request's start: a broken or expired one is replaced
    with log_context(**job_log_context(job)):
        try:
            state = _store_and_finalize(rendered)
        except TRANSIENT_ERRORS as exc:
            logger.warning("Job %s hit a transient error, will retry: %s", job.id, exc)
            state = _retry(job, exc)
        except Exception as exc:
            logger.exception("Job %s failed", job.id)
            job_fail(job=job, reason=describe_failure(exc))
            state = Job.State.FAILED
        finally:
            heartbeats.discard(job)
        logger.info("Job ended: %s", state)
        return state


def _store_and_finalize(rendered: Rendered) -> str:
    job = rendered.job
    # Cancelled, contained or superseded since its last step: not worth encoding.
    if not job_heartbeat(job=job):
        logger.info("Job %s no longer runs (cancelled or superseded): not encoded", job.id)
        return "superseded"
    fields = _encode_and_store(job, rendered.spec, rendered.frames)
    return finalize_or_discard(job, fields, rendered.gpu_seconds)


encoding_stage = EncodingStage(finish_rendered)


def finish_encoding(timeout: float | None = None) -> bool:
    """Finish every job this process has rendered (a worker child calls it before it exits)."""
    return encoding_stage.stop(timeout)


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
