"""docker/compose.yaml: what the compose-spec schema (make lint) cannot see."""

from __future__ import annotations

import pytest
import yaml
from django.urls import resolve

from ops import views
from scripts.probe_health import probe_headers
from tests.conftest import REPO
from tests.deploy.conftest import APP_SERVICES, DOCKER, GPU_WORKERS

MIGRATED = {"condition": "service_completed_successfully"}


def test_every_app_service_starts_only_after_a_successful_migration(compose):
    services = compose["services"]
    for name in (*APP_SERVICES, *GPU_WORKERS):
        assert services[name]["depends_on"]["migrate"] == MIGRATED, name
        assert services[name]["depends_on"]["db"] == {"condition": "service_healthy"}, name
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}, name
    for name in GPU_WORKERS:
        assert services[name]["depends_on"]["models"] == MIGRATED, name
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == services["models"]["restart"] == "no"


def test_each_gpu_worker_reserves_one_gpu_of_its_own(compose):
    services = compose["services"]
    reserved = []
    for name, service in services.items():
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {})
        for device in devices.get("devices", []):
            assert name in GPU_WORKERS, f"{name} reserves a GPU"
            assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
            reserved.extend(device["device_ids"])
            assert service["environment"]["CUDA_VISIBLE_DEVICES"] == "0"  # its one GPU, inside
            assert service["build"]["target"] == "worker"
            assert "--concurrency" in service["command"]
            assert service["command"][service["command"].index("--concurrency") + 1] == "1"

    assert sorted(reserved) == [str(n) for n in range(8)]  # one each, none shared
    assert "profiles" not in services["worker-0"]  # a plain `up` runs one GPU worker
    assert all("gpus-8" in services[name]["profiles"] for name in GPU_WORKERS[1:])


def test_only_the_workers_use_the_torch_image(compose):
    services = compose["services"]
    for name in (*APP_SERVICES, "migrate"):
        assert services[name]["build"]["target"] == "web", name
    assert services["models"]["build"]["target"] == "worker"
    assert "deploy" not in services["models"]  # builds the demo model on the CPU


def test_the_healthchecks_probe_the_real_health_views(compose):
    test = compose["services"]["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "scripts/probe_health.py"]
    assert resolve(test[3]).func == views.health_ready
    assert (REPO / test[2]).exists()
    for name in ("db", "redis", "proxy", "tracer", *GPU_WORKERS):
        assert compose["services"][name]["healthcheck"]["test"], name


@pytest.mark.django_db
def test_the_probe_gets_past_a_production_web_process_host_and_https_checks(client, settings):
    settings.ALLOWED_HOSTS = ["alpha.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = probe_headers({"DJANGO_ALLOWED_HOSTS": "alpha.example.com,.example.org"})

    assert client.get("/health/live", headers=headers).status_code == 200
    # Without them, what a bare probe of a production container got: refused or redirected.
    assert client.get("/health/live").status_code == 400
    bare_https = {"Host": "alpha.example.com"}
    assert client.get("/health/live", headers=bare_https).status_code == 301


def test_every_long_running_service_restarts_and_keeps_its_state_on_a_volume(compose):
    services = compose["services"]
    for name, service in services.items():
        expected = "no" if name in ("migrate", "models") else "unless-stopped"
        assert service.get("restart") == expected, name
    mounts = {name: service.get("volumes", []) for name, service in services.items()}
    assert "pg:/var/lib/postgresql/data" in mounts["db"]
    assert "redis:/data" in mounts["redis"]
    assert "caddy-data:/data" in mounts["proxy"]
    assert all("models:/models" in mounts[name] for name in GPU_WORKERS)
    named = {mount.split(":")[0] for volumes in mounts.values() for mount in volumes}
    named = {name for name in named if not name.startswith(".")}
    assert named <= set(compose["volumes"]), named - set(compose["volumes"])


def test_redis_keeps_the_broker_on_an_append_only_file(compose):
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_every_reference_in_the_file_resolves(compose):
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), (name, depends)
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], (name, secret)
        for mount in service.get("volumes", []):
            if mount.startswith("./"):
                assert (DOCKER / mount.split(":")[0]).exists(), (name, mount)
    assert (DOCKER / "env.example").exists()


def test_prometheus_finds_every_gpu_worker_by_its_shared_alias(compose):
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    discovery = jobs["vernissage-worker"]["dns_sd_configs"][0]

    for name in GPU_WORKERS:
        service = compose["services"][name]
        assert discovery["names"] == service["networks"]["default"]["aliases"], name
        assert str(discovery["port"]) == service["environment"]["VERNISSAGE_WORKER_METRICS_PORT"]
