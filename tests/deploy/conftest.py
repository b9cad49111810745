"""Fixtures of the deploy-file tests: the compose file and the Helm chart as the tools see them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scripts.lint_deploy import everything_on, render_chart
from tests.conftest import REPO

DOCKER = REPO / "docker"
CHART = REPO / "deploy/helm/vernissage"
APP_SERVICES = ("web", "dispatcher", "tracer")
GPU_WORKERS = tuple(f"worker-{n}" for n in range(8))


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker/compose.yaml with its YAML anchors and merge keys resolved (as compose does)."""
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="session")
def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def objects_by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}


@pytest.fixture(scope="session")
def rendered() -> dict[tuple[str, str], dict[str, Any]]:
    """`helm template` of the chart with its default values, keyed by (kind, name)."""
    return objects_by_kind(render_chart(CHART))


@pytest.fixture(scope="session")
def rendered_everything_on(chart_values) -> dict[tuple[str, str], dict[str, Any]]:
    return objects_by_kind(render_chart(CHART, everything_on(chart_values)))
