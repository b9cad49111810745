"""The two images: the web one installs and runs without torch, both run as numeric non-root."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

from tests.conftest import REPO

WORKER_ONLY = {"torch", "diffusers", "transformers", "accelerate", "safetensors", "tokenizers"}
# Pulled in only by the worker extra (diffusers, transformers): absent from the web image too.
BLOCKED_IN_WEB = WORKER_ONLY | {"huggingface_hub"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0].lower()


def _stages() -> dict[str, list[str]]:
    """docker/Dockerfile's instructions (continuation lines joined), by stage name."""
    text = (REPO / "docker/Dockerfile").read_text().replace("\\\n", " ")
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if found:
            current = stages.setdefault(found.group(1), [])
        current.append(line)
    return stages


def test_the_base_dependencies_name_nothing_that_pulls_torch():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {_name(requirement) for requirement in project["dependencies"]}
    worker = {_name(requirement) for requirement in project["optional-dependencies"]["worker"]}

    assert not base & WORKER_ONLY, base & WORKER_ONLY
    assert {"diffusers", "transformers", "accelerate"} <= worker
    # `pip install -e '.[dev]'` (make setup) still installs the pipeline for tests and benches.
    assert "vernissage[worker]" in project["optional-dependencies"]["dev"]


def test_the_web_image_installs_the_base_dependencies_only_and_the_worker_cuda_torch():
    stages = _stages()
    web_deps, worker_deps = " ".join(stages["web-deps"]), " ".join(stages["worker-deps"])

    assert "pip install ." in web_deps and "torch" not in web_deps and "[worker]" not in web_deps
    assert "COPY --from=web-deps /opt/venv /opt/venv" in stages["web"]
    assert not any("worker-deps" in line for line in stages["web"])
    assert re.search(r"pip install \"torch==\$\{TORCH_VERSION\}\" --index-url", worker_deps)
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu" in worker_deps
    assert '".[worker]"' in worker_deps
    assert "COPY --from=worker-deps /opt/venv /opt/venv" in stages["worker"]


def test_both_images_run_as_a_numeric_non_root_user():
    stages = _stages()
    for target in ("web", "worker"):
        users = [line.split()[1] for line in stages[target] if line.startswith("USER ")]
        assert users, f"stage {target} never leaves root"
        uid, _, gid = users[-1].partition(":")
        assert uid.isdigit() and gid.isdigit() and int(uid) > 0 and int(gid) > 0, users[-1]
    base = " ".join(stages["base"])
    assert "--uid 10001" in base and "--gid 10001" in base
    assert "chown 10001:10001 /data /models" in base


BLOCK_WORKER_PACKAGES = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} is not installed in the web image')
sys.meta_path.insert(0, Block())
"""

WEB_IMAGE_PROCESSES = """
import json, django
django.setup()
import config.asgi, config.urls
from django.urls import resolve
resolve('/studio/'); resolve('/health/ready')
from config.celery import app
app.loader.import_default_modules()  # every tasks module: what the tracer (CPU worker) loads
import generation.management.commands.dispatcher
from django.db.migrations.loader import MigrationLoader
MigrationLoader(None, ignore_no_migrations=True)  # every migration: what `migrate` loads
from django.core.management import call_command
call_command('check')
print(json.dumps(sorted(m for m in BLOCKED if m in sys.modules)))
"""


def test_web_dispatcher_tracer_and_migrate_start_without_the_worker_packages():
    """What the web image runs (docker/compose.yaml, the chart) imports none of the `worker`
    extra: each of those imports raises here, as it would in that image."""
    code = f"BLOCKED = {sorted(BLOCKED_IN_WEB)!r}\n{BLOCK_WORKER_PACKAGES}\n{WEB_IMAGE_PROCESSES}"

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
