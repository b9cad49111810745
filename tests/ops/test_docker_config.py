"""The Prometheus scrape config and the Grafana dashboard in docker/ match what we export."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO

pytestmark = pytest.mark.django_db

DOCKER = REPO / "docker"
# Served by each worker's own port (ops.worker_metrics), not by the web process.
WORKER_METRICS = {
    "vernissage_worker_tasks",
    "vernissage_worker_task_seconds",
    "vernissage_worker_busy",
}


def _exported(client) -> set[str]:
    import config.asgi  # noqa: F401 -- what every web process loads: the socket consumers' gauge

    text = client.get(reverse("metrics")).content.decode()
    return {family.name for family in text_string_to_metric_families(text)} | WORKER_METRICS


def _base_name(series: str) -> str:
    return re.sub(r"_(bucket|count|sum|total)$", "", series)


def test_every_series_the_dashboard_plots_is_exported(client):
    dashboard = json.loads((DOCKER / "grafana/dashboards/vernissage.json").read_text())
    plotted = {
        _base_name(series)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for series in re.findall(r"\bvernissage_[a-z_]+", target["expr"])
    }

    assert plotted, "the dashboard plots nothing"
    assert plotted <= _exported(client), plotted - _exported(client)
    assert dashboard["uid"] and len({panel["id"] for panel in dashboard["panels"]}) == len(
        dashboard["panels"]
    )


def test_prometheus_scrapes_the_web_with_the_bearer_secret_and_every_worker():
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    web = jobs["vernissage-web"]
    assert web["metrics_path"] == "/metrics"
    assert web["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    # Every GPU worker container answers to one network alias (tests/deploy/test_compose.py).
    assert jobs["vernissage-worker"]["dns_sd_configs"][0]["names"] == ["gpu-worker"]
    assert jobs["vernissage-worker"]["dns_sd_configs"][0]["port"] == 9101
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert (
        compose["services"]["worker-0"]["environment"]["VERNISSAGE_WORKER_METRICS_PORT"] == "9101"
    )
    assert "/health/ready" in " ".join(compose["services"]["web"]["healthcheck"]["test"])
