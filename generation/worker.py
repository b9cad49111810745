"""What a GPU worker does with one job: claim it, render, encode, store, finish.

Runs only in Celery worker processes; torch comes in through `generation.pipeline.runner`, imported
here lazily so that importing this module (e.g. via tasks autodiscovery) stays cheap.

The worker is an entry point: it finishes a job (generation) and registers its output for review
(review) in one transaction, `job_finalize`, so neither app has to import the other upward.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import storages
from django.db import InterfaceError, OperationalError, transaction

from generation.models import Job
from generation.pipeline.previews import CONTENT_TYPES, encode_preview
from generation.pipeline.video import encode_video
from generation.progress import publish_preview
from generation.registry import ModelSpec, get_model
from generation.services import (
    job_fail,
    job_record_progress,
    job_retry,
    job_start,
    job_succeed,
)
from review.services import output_register

logger = logging.getLogger(__name__)
# Worth another attempt; anything else (bad input, CUDA out of memory, a bug) fails the job.
TRANSIENT_ERRORS = (ConnectionError, TimeoutError, InterfaceError, OperationalError)
PREVIEW_CONTENT_TYPE = CONTENT_TYPES["WEBP"]


def job_execute(*, job_id: UUID, dispatch_id: UUID, worker: str) -> str:
    """Run one job to a final state; returns the state it ended in (or why it did not run)."""
    job = job_start(job_id=job_id, dispatch_id=dispatch_id, worker=worker)
    if job is None:
        return "not runnable"
    spec = get_model(job.model_name)
    if spec is None:
        job_fail(job=job, reason=f"Model {job.model_name!r} is no longer configured.")
        return Job.State.FAILED
    try:
        return _render_and_store(job, spec)
    except SoftTimeLimitExceeded:
        job_fail(job=job, reason="The job ran past its time limit and was stopped.")
    except TRANSIENT_ERRORS as exc:
        # Storage, network or database hiccups: run it again (bounded by JOB_MAX_ATTEMPTS).
        logger.warning("Job %s hit a transient error, will retry: %s", job.id, exc)
        if job_retry(job=job, reason=describe_failure(exc)):
            return "retrying"
        return Job.State.FAILED
    except Exception as exc:
        logger.exception("Job %s failed", job.id)
        job_fail(job=job, reason=describe_failure(exc))
    return Job.State.FAILED


def _render_and_store(job: Job, spec: ModelSpec) -> str:
    # Lazy on purpose: this is where torch and diffusers enter the worker process (never the web).
    from generation.pipeline.runner import RenderCancelled, RenderRequest, render

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
    started = time.monotonic()
    try:
        frames = render(
            spec,
            request,
            lambda step, _total: job_record_progress(job=job, step=step),
            on_preview=lambda step, _total, preview: _send_preview(job, step, preview),
            preview_every=settings.PREVIEW_EVERY_STEPS,
        )
    except RenderCancelled as stop:
        logger.info("Job %s %s", job.id, stop)  # "cancelled after step k of n": for the record
        return "stopped"
    gpu_seconds = time.monotonic() - started
    fields = _encode_and_store(job, spec, frames)
    if not job_finalize(job=job, output_fields=fields, gpu_seconds=gpu_seconds):
        _discard(fields)
        return "superseded"
    return Job.State.SUCCEEDED


def job_finalize(*, job: Job, output_fields: dict[str, Any], gpu_seconds: float) -> bool:
    """Succeed the current run and put its output in the review queue, together or not at all.
    False: this run no longer counts (cancelled or superseded), nothing was registered."""
    with transaction.atomic():
        if not job_succeed(job=job, gpu_seconds=gpu_seconds):
            return False
        output_register(job=job, **output_fields)
    return True


def _send_preview(job: Job, step: int, frames) -> None:
    image = encode_preview(frames)
    publish_preview(job, step=step, image=image, content_type=PREVIEW_CONTENT_TYPE)


def _encode_and_store(job: Job, spec: ModelSpec, frames) -> dict:
    """Encode into a scratch folder, then move both files into private storage."""
    storage = storages["outputs"]
    folder = f"{job.owner_id}/{job.id}/{job.attempt}"
    with tempfile.TemporaryDirectory(prefix="vernissage-") as scratch:
        video, poster = Path(scratch, "video.mp4"), Path(scratch, "poster.jpg")
        encode_video(frames, fps=spec.fps, video_path=video, poster_path=poster)
        sha256 = hashlib.sha256(video.read_bytes()).hexdigest()
        size = video.stat().st_size
        destination = Path(storage.path(folder))
        destination.mkdir(parents=True, exist_ok=True)
        shutil.move(video, destination / "video.mp4")
        shutil.move(poster, destination / "poster.jpg")
    return {
        "video_name": f"{folder}/video.mp4",
        "poster_name": f"{folder}/poster.jpg",
        "sha256": sha256,
        "size_bytes": size,
        "width": job.width,
        "height": job.height,
        "num_frames": int(frames.shape[0]),
        "fps": spec.fps,
    }


def _discard(fields: dict) -> None:
    """Remove a run's files, and its folders if nothing else is left in them."""
    storage = storages["outputs"]
    for name in (fields["video_name"], fields["poster_name"]):
        storage.delete(name)
    attempt_folder = Path(storage.path(fields["video_name"])).parent
    for folder in (attempt_folder, attempt_folder.parent):
        try:
            folder.rmdir()
        except OSError:
            break  # not empty: another attempt's files live there


def describe_failure(exc: BaseException) -> str:
    """A reason a tester can read; the traceback goes to the worker log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "out of memory" in text.lower():
        return "The GPU ran out of memory for this size; try fewer frames or a smaller size."
    return f"Generation failed ({type(exc).__name__}){': ' + text[:300] if text else ''}."
