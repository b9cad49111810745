"""Shared by the pipeline tests: the tiny demo model, built once per session, and helpers."""

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from generation.pipeline import runner
from generation.pipeline.demo import ensure_demo_model

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUEST = runner.RenderRequest(
    prompt="a red cat flying over the city at night",
    negative_prompt="blurry",
    seed=7,
    num_frames=9,
    width=64,
    height=48,
    steps=4,
    guidance_scale=5.0,
)


@dataclass(frozen=True)
class Spec:
    name: str
    source: str
    dtype: str = "float32"
    device: str = "cpu"


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "demo-wan-tiny"
    assert ensure_demo_model(path) is True
    return path


@pytest.fixture
def spec(demo_model: Path) -> Iterator[Spec]:
    runner.clear_pipeline_cache()
    yield Spec(name="demo", source=str(demo_model))
    runner.clear_pipeline_cache()


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
