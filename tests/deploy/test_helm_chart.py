"""deploy/helm/vernissage rendered by Helm's engine: what a cluster would be asked to run."""

from __future__ import annotations

import json

import pytest
from django.urls import resolve

from generation.registry import parse_model
from ops import views
from tests.deploy.conftest import CHART

RELEASE = "vernissage"
WEB_IMAGE_PARTS = ("web", "dispatcher", "tracer", "migrate")


def _pod(obj):
    return obj["spec"]["template"]["spec"]


def _env(container) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def test_the_chart_has_every_part_the_issue_names(rendered):
    kinds = set(rendered)
    for part in WEB_IMAGE_PARTS[:3]:
        assert ("Deployment", f"{RELEASE}-{part}") in kinds, part
    assert ("Deployment", f"{RELEASE}-worker-demo") in kinds
    assert ("HorizontalPodAutoscaler", f"{RELEASE}-web") in kinds
    assert ("Service", f"{RELEASE}-web") in kinds
    assert ("Job", f"{RELEASE}-migrate") in kinds


def test_migrations_run_as_a_hook_before_install_and_upgrade(rendered):
    job = rendered[("Job", f"{RELEASE}-migrate")]
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")

    assert sorted(hooks) == ["pre-install", "pre-upgrade"]
    container = _pod(job)["containers"][0]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "vernissage-web" in container["image"]
    # Hooks run before the release's other objects exist: the job may reference none of them.
    assert "configMapRef" not in json.dumps(container)


def test_each_model_gets_gpu_workers_on_its_own_queue(rendered):
    worker = rendered[("Deployment", f"{RELEASE}-worker-demo")]
    container = _pod(worker)["containers"][0]
    resources = container["resources"]

    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == 1
    assert container["command"][container["command"].index("--queues") + 1] == "gpu.demo"
    assert container["command"][container["command"].index("--concurrency") + 1] == "1"
    assert "vernissage-worker" in container["image"]
    assert {"name": "models", "mountPath": "/models"} in container["volumeMounts"]
    assert _pod(worker)["terminationGracePeriodSeconds"] >= 600  # Celery's warm shutdown
    for part in WEB_IMAGE_PARTS[:3]:
        containers = _pod(rendered[("Deployment", f"{RELEASE}-{part}")])["containers"]
        assert "nvidia.com/gpu" not in json.dumps(containers), part
        assert "vernissage-web" in containers[0]["image"], part


def test_the_models_setting_parses_and_gives_each_model_its_worker_count(rendered):
    for name in ("web", "dispatcher", "worker-demo"):
        container = _pod(rendered[("Deployment", f"{RELEASE}-{name}")])["containers"][0]
        entries = json.loads(_env(container)["VERNISSAGE_MODELS"])
        specs = [parse_model(entry, index) for index, entry in enumerate(entries)]
        assert [(spec.name, spec.slots) for spec in specs] == [("demo", 1)], name


def test_with_autoscaling_the_slots_follow_the_most_workers_and_keda_reads_the_queue(
    rendered_everything_on,
):
    scaled = rendered_everything_on[("ScaledObject", f"{RELEASE}-worker-demo")]
    trigger = scaled["spec"]["triggers"][0]
    web = _pod(rendered_everything_on[("Deployment", f"{RELEASE}-web")])["containers"][0]
    slots = {entry["name"]: entry["slots"] for entry in json.loads(_env(web)["VERNISSAGE_MODELS"])}

    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-worker-demo"
    assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == "gpu.demo"
    assert slots["demo"] == scaled["spec"]["maxReplicaCount"]
    # A registry name with "_" becomes a valid object name; its queue keeps the real name.
    other = rendered_everything_on[("Deployment", f"{RELEASE}-worker-wan-1-3b")]
    command = _pod(other)["containers"][0]["command"]
    assert command[command.index("--queues") + 1] == "gpu.wan_1_3b"
    assert ("Ingress", RELEASE) in rendered_everything_on


def test_web_probes_use_the_health_views_with_the_headers_production_needs(
    rendered, client, settings, db
):
    container = _pod(rendered[("Deployment", f"{RELEASE}-web")])["containers"][0]
    settings.ALLOWED_HOSTS = ["alpha.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert resolve(get["path"]).func in (views.health_live, views.health_ready), probe
        headers = {header["name"]: header["value"] for header in get["httpHeaders"]}
        assert client.get("/health/live", headers=headers).status_code == 200, probe


def test_every_pod_runs_as_a_numeric_non_root_user(rendered_everything_on):
    for (kind, name), obj in rendered_everything_on.items():
        if kind not in ("Deployment", "Job"):
            continue
        pod = _pod(obj)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


@pytest.mark.parametrize("path", ["Chart.yaml", "values.yaml", "templates/_helpers.tpl"])
def test_the_chart_files_exist(path):
    assert (CHART / path).exists()
