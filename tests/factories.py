"""Small builders for rows the tests need, with real files where files matter."""

from __future__ import annotations

import functools
import hashlib
import tempfile
import uuid
from pathlib import Path

import numpy as np
from django.conf import settings
from django.utils import timezone

from access.models import User
from generation.models import Job
from generation.pipeline.video import encode_video
from generation.services import JobRequest, job_submit
from review.models import Output


def make_job(owner: User, *, state: str = Job.State.QUEUED, prompt: str = "a lighthouse") -> Job:
    return Job.objects.create(
        owner=owner,
        model_name="demo",
        prompt=prompt,
        seed=1,
        num_frames=5,
        width=32,
        height=32,
        steps=4,
        guidance=5.0,
        state=state,
    )


def submit_job(owner: User, **fields: object) -> Job:
    """A new job through `job_submit`, as the studio and the API submit one (demo model)."""
    job, created = job_submit(
        owner=owner, request=JobRequest(**{"model_name": "demo", "prompt": "a tide pool", **fields})
    )
    assert created
    return job


def mark_dispatched(job: Job) -> Job:
    """What a dispatch does to a row: a message carrying this id is on its way to a worker."""
    Job.objects.filter(pk=job.pk).update(dispatch_id=uuid.uuid4(), dispatched_at=timezone.now())
    job.refresh_from_db()
    return job


@functools.cache
def _tiny_video() -> tuple[bytes, bytes]:
    """The same five frames every time, so encoded once per test process (≈ 50 ms saved on
    every output a test makes; a permission-matrix world makes several)."""
    with tempfile.TemporaryDirectory() as scratch:
        video_path, poster_path = Path(scratch, "video.mp4"), Path(scratch, "poster.jpg")
        frames = np.random.default_rng(0).random((5, 32, 32, 3), dtype=np.float32)
        encode_video(frames, fps=8, video_path=video_path, poster_path=poster_path)
        return video_path.read_bytes(), poster_path.read_bytes()


def make_output(owner: User, *, state: str = Output.State.PENDING) -> Output:
    """A succeeded job with a real (tiny) MP4 and poster in private storage."""
    job = make_job(owner, state=Job.State.SUCCEEDED)
    folder = Path(settings.OUTPUTS_DIR, str(owner.id), str(job.id), "1")
    folder.mkdir(parents=True, exist_ok=True)
    video, poster = _tiny_video()
    (folder / "video.mp4").write_bytes(video)
    (folder / "poster.jpg").write_bytes(poster)
    data = video
    sha256 = hashlib.sha256(data).hexdigest()
    decided = state != Output.State.PENDING
    return Output.objects.create(
        job=job,
        video_name=f"{owner.id}/{job.id}/1/video.mp4",
        poster_name=f"{owner.id}/{job.id}/1/poster.jpg",
        sha256=sha256,
        approved_sha256=sha256 if state == Output.State.APPROVED else "",
        size_bytes=len(data),
        width=32,
        height=32,
        num_frames=5,
        fps=8,
        state=state,
        decided_at=timezone.now() if decided else None,
        decision_reason="not for sharing" if state == Output.State.REJECTED else "",
    )
