"""A real Celery worker on the CPU queue runs an uploaded trace to its answer."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generation.marks import mark_frames
from provenance.models import Trace
from review.models import Output
from tests.conftest import running_worker
from tests.factories import make_job
from tests.provenance.conftest import textured_clip, write_clip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_an_uploaded_trace_is_answered_by_the_cpu_worker(
    client, admin, tester, outputs_dir, stack_env, artifacts_dir
):
    frames, mark = mark_frames(textured_clip(seed=1))
    video = write_clip(frames, Path(outputs_dir))
    output = Output.objects.create(
        job=make_job(tester),
        video_name="clip.mp4",
        poster_name="clip.mp4.jpg",
        sha256="0" * 64,
        size_bytes=video.stat().st_size,
        width=384,
        height=256,
        num_frames=9,
        fps=8,
        **mark.as_output_fields(),
    )
    client.force_login(admin)
    log = artifacts_dir / f"celery-cpu-{os.getpid()}.log"

    with running_worker("cpu", "test-cpu@%h", stack_env, log):
        response = client.post(
            reverse("api_traces"), {"file": SimpleUploadedFile("leak.mp4", video.read_bytes())}
        )
        trace = Trace.objects.get(id=response.json()["id"])
        deadline = time.monotonic() + 60
        while not trace.is_final and time.monotonic() < deadline:
            time.sleep(0.2)
            trace.refresh_from_db()

    assert trace.state == Trace.State.DONE, trace.error
    assert trace.output_id == output.id and trace.tester == tester
