"""Liveness and readiness: JSON the compose healthchecks and Kubernetes probes read.

The services are the real ones (PostgreSQL or SQLite, Redis as cache, broker and channel layer,
the outputs folder). No worker serves the model these tests configure, so readiness is refused
for want of one; `tests/ops/test_operating_a_job.py` shows it ready with a real worker.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from generation.heartbeat import DISPATCHER_HEARTBEAT_KEY, dispatcher_last_beat
from ops.health import Unhealthy, check_dispatcher, check_storage, forget_workers

pytestmark = pytest.mark.django_db

SERVICES = ("database", "cache", "broker", "channel_layer", "storage")


@pytest.fixture
def unserved_model(settings, demo_model):
    """A model no running worker consumes the queue of; workers asked with a short timeout."""
    settings.VERNISSAGE_MODELS = [
        {
            "name": "ops-unserved",
            "source": str(demo_model),
            "dtype": "float32",
            "device": "cpu",
            "fps": 8,
            "defaults": {"num_frames": 5, "width": 32, "height": 32, "steps": 2, "guidance": 5},
            "limits": {"num_frames": 5, "width": 32, "height": 32, "steps": 2, "guidance": 5},
        }
    ]
    settings.HEALTH_WORKER_TIMEOUT_SECONDS = 0.3
    forget_workers()
    yield
    forget_workers()


@pytest.fixture
def no_dispatcher():
    cache.delete(DISPATCHER_HEARTBEAT_KEY)
    yield
    cache.delete(DISPATCHER_HEARTBEAT_KEY)


def test_liveness_answers_without_asking_any_service(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(reverse("health_live"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readiness_checks_every_service_and_is_refused_without_worker_or_dispatcher(
    client, unserved_model, no_dispatcher
):
    response = client.get(reverse("health_ready"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert set(body["checks"]) == {*SERVICES, "workers", "dispatcher"}
    assert all(body["checks"][name]["ok"] for name in SERVICES), body
    assert body["checks"]["workers"] == {
        "ok": False,
        "detail": "Unhealthy: no worker answered for queue gpu.ops-unserved",
        "ms": body["checks"]["workers"]["ms"],
    }
    assert "no dispatcher has ever beaten" in body["checks"]["dispatcher"]["detail"]


def test_readiness_tells_only_a_trusted_caller_what_went_wrong(client, unserved_model, settings):
    settings.METRICS_BEARER_TOKEN = "s3cret"
    outside = "203.0.113.7"

    anonymous = client.get(reverse("health_ready"), REMOTE_ADDR=outside)
    trusted = client.get(
        reverse("health_ready"), REMOTE_ADDR=outside, headers={"Authorization": "Bearer s3cret"}
    )

    assert anonymous.status_code == trusted.status_code == 503
    assert anonymous.json()["checks"]["workers"] == {"ok": False}
    assert "gpu.ops-unserved" in trusted.json()["checks"]["workers"]["detail"]


def test_the_dispatcher_beats_at_every_tick(dispatched, no_dispatcher):
    before = time.time()

    call_command("dispatcher", "--once")

    last = dispatcher_last_beat()
    assert last is not None and last >= before


def test_a_stale_dispatcher_heartbeat_is_not_ready(settings):
    cache.set(
        DISPATCHER_HEARTBEAT_KEY, time.time() - settings.DISPATCHER_HEARTBEAT_STALE_SECONDS - 5
    )

    with pytest.raises(Unhealthy, match=r"the last dispatcher heartbeat is \d+ s old"):
        check_dispatcher()


def test_a_fresh_dispatcher_heartbeat_passes():
    cache.set(DISPATCHER_HEARTBEAT_KEY, time.time())

    assert check_dispatcher().startswith("beat ")


def test_storage_that_cannot_be_written_fails_its_check(settings, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    outputs = {**settings.STORAGES["outputs"], "OPTIONS": {"location": str(not_a_folder)}}
    settings.STORAGES = {**settings.STORAGES, "outputs": outputs}

    with pytest.raises(OSError):
        check_storage()


def test_probes_answer_only_reads(client):
    for name in ("health_live", "health_ready"):
        assert client.post(reverse(name)).status_code == 405


@pytest.mark.postgres_pass  # storage, not the database engine
def test_an_s3_bucket_passes_the_storage_check_and_leaves_nothing(s3_outputs):
    check_storage()

    assert s3_outputs.listdir("health") == ([], [])
