"""Graceful shutdown: SIGTERM to the web server closes every socket with "service restart" (1012,
which the page shows as "server restarting" and reconnects after); SIGTERM to a worker lets the
running job finish (Celery's warm shutdown) instead of losing or repeating it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from urllib.parse import urlsplit

import pytest
import websockets

from generation.models import Job
from review.models import Output
from tests.conftest import ManagedProcess, running_worker, server_command
from tests.factories import submit_job
from tests.faults.conftest import session_cookie
from tests.integration.conftest import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
    pytest.mark.postgres_pass,  # fault injection runs once per CI run
]

SERVICE_RESTART = 1012


async def _close_code_after_sigterm(url: str, cookie: str, server: ManagedProcess) -> int | None:
    origin = f"http://{urlsplit(url).netloc}"
    async with websockets.connect(
        url.replace("http", "ws") + "/ws/studio/",
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": origin},
    ) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "snapshot"
        server.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


def test_sigterm_to_the_web_server_closes_sockets_with_service_restart(
    tester, stack_env, artifacts_dir
):
    from tests.conftest import _free_port

    port = _free_port()
    server = ManagedProcess(
        "asgi-shutdown", server_command(port), stack_env, artifacts_dir / f"shutdown-{port}.log"
    )
    try:
        server.wait_for_output("Application startup complete", timeout=60)
        code = asyncio.run(
            _close_code_after_sigterm(f"http://127.0.0.1:{port}", session_cookie(tester), server)
        )
        assert code == SERVICE_RESTART
        # Within its grace period, cleanly (uvicorn re-raises the signal it handled: -SIGTERM).
        assert server.process.wait(timeout=30) == -signal.SIGTERM
        assert "Finished server process" in server.output()
    finally:
        server.stop()


def _slow_model(demo_model) -> dict:
    return {
        "name": "demo-slow",
        "source": str(demo_model),
        "dtype": "float32",
        "device": "cpu",
        "fps": 8,
        "defaults": {"num_frames": 17, "width": 256, "height": 256, "steps": 12, "guidance": 5},
        "limits": {"num_frames": 17, "width": 256, "height": 256, "steps": 12, "guidance": 5},
    }


@pytest.mark.usefixtures("running_dispatcher")
def test_sigterm_to_a_worker_finishes_the_running_job_once(
    tester, stack_env, demo_model, artifacts_dir, settings, outputs_dir
):
    models = [_slow_model(demo_model)]
    settings.VERNISSAGE_MODELS = models
    with running_worker(
        "gpu.demo-slow",
        "shutdown-test@%h",
        {**stack_env, "VERNISSAGE_MODELS": json.dumps(models)},
        artifacts_dir / f"celery-shutdown-worker-{os.getpid()}.log",
    ) as worker:
        job = submit_job(tester, model_name="demo-slow", prompt="a bell tower at dusk")
        wait_for(
            lambda: Job.objects.filter(id=job.id, progress_step__gte=2).exists(),
            90,
            "the job to reach step 2",
        )
        worker.process.send_signal(signal.SIGTERM)  # warm shutdown
        assert worker.process.wait(timeout=180) == 0
        final = Job.objects.get(id=job.id)
        assert (final.state, final.attempt) == (Job.State.SUCCEEDED, 1), final.error
        assert Output.objects.filter(job=final).count() == 1
        assert "worker: Warm shutdown" in worker.output()
