"""Outputs in S3, end to end: a real worker configured with `VERNISSAGE_STORAGE=s3` stores its
video in a real S3 server (moto's, on a loopback port), and a real Chromium plays it from there
through the presigned URL the output page embeds. No disk is shared: the worker, the web server
and the test process see the files only through the bucket."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse

from generation.models import Job
from review.models import Output
from tests.browser.conftest import (
    UI_TIMEOUT_MS,
    Watch,
    new_context,
    off_the_event_loop,
    sign_in_to_studio,
)
from tests.conftest import WAIT_SCALE, ManagedProcess, _free_port, server_command, worker_command
from tests.factories import submit_job

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("running_dispatcher"),
]

MODEL = "demo-s3"


def _model(demo_model) -> dict:
    """The demo weights at their smallest, on a queue of their own (no other worker takes it)."""
    shape = {"num_frames": 9, "width": 64, "height": 64, "steps": 2, "guidance": 5}
    return {
        "name": MODEL,
        "source": str(demo_model),
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "defaults": shape,
        "limits": shape,
    }


class Stack:
    """A worker and a web server that both store in the bucket, started together."""

    def __init__(self, env: dict[str, str], artifacts_dir: Path) -> None:
        port, pid = _free_port(), os.getpid()
        self.url = f"http://127.0.0.1:{port}"
        self.worker = ManagedProcess(
            "s3 worker",
            worker_command(f"gpu.{MODEL}", "s3-test@%h"),
            env,
            artifacts_dir / f"celery-s3-worker-{pid}.log",
        )
        self.server = ManagedProcess(
            "s3 web", server_command(port), env, artifacts_dir / f"asgi-s3-{pid}-{port}.log"
        )

    def wait_ready(self) -> None:
        self.worker.wait_for_output(" ready.", timeout=60)
        self.server.wait_for_output("Application startup complete", timeout=60)

    def stop(self) -> None:
        for process in (self.worker, self.server):  # both shut down at once
            if process.process.poll() is None:
                process.process.terminate()
        self.worker.stop()
        self.server.stop()


@pytest.fixture
def s3_stack(stack_env, s3_env, demo_model, artifacts_dir, settings, cohort) -> Iterator[Stack]:
    models = [*settings.VERNISSAGE_MODELS, _model(demo_model)]
    settings.VERNISSAGE_MODELS = models
    cohort.model_names = [*cohort.model_names, MODEL]
    cohort.save(update_fields=["model_names"])
    stack = Stack({**stack_env, **s3_env, "VERNISSAGE_MODELS": json.dumps(models)}, artifacts_dir)
    yield stack
    stack.stop()


def _succeeded_output(job_id) -> Output:
    """The job's output once it succeeded (run in a thread of its own: see off_the_event_loop)."""
    try:
        deadline = time.monotonic() + 60 * WAIT_SCALE
        while time.monotonic() < deadline:
            job = Job.objects.get(id=job_id)
            if job.is_final:
                assert job.state == Job.State.SUCCEEDED, job.error
                return Output.objects.get(job=job)
            time.sleep(0.1)
        raise AssertionError(f"job stayed {job.state}")
    finally:
        connections.close_all()


def test_a_worker_stores_in_s3_and_the_owners_browser_plays_it_from_there(
    tester, s3_stack, s3_env, _s3_outputs_storage, chromium
):
    endpoint = s3_env["VERNISSAGE_S3_ENDPOINT_URL"]
    job = off_the_event_loop(lambda: submit_job(tester, model_name=MODEL, prompt="a kite"))
    s3_stack.wait_ready()  # the job waits in the queue meanwhile
    watch = Watch()
    page = new_context(chromium, s3_stack.url, watch).new_page()
    with ThreadPoolExecutor(max_workers=1) as pool:  # the browser signs in while the job runs
        rendered = pool.submit(_succeeded_output, job.id)
        sign_in_to_studio(page)
        output = rendered.result()
    with _s3_outputs_storage.open(output.video_name, "rb") as stored:
        assert stored.read(12)[4:8] == b"ftyp"  # an MP4, in the bucket under the row's name
    assert _s3_outputs_storage.exists(output.poster_name)

    page.goto(reverse("output_detail", kwargs={"output_id": output.id}))
    video = page.get_by_test_id("output-video")

    assert video.evaluate("v => v.currentSrc").startswith(f"{endpoint}/")
    page.wait_for_function(
        "v => v.readyState >= HTMLMediaElement.HAVE_METADATA && !v.error",
        arg=video.element_handle(),
        timeout=UI_TIMEOUT_MS,
    )
    watch.assert_clean()
