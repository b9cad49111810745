"""The build context: no virtualenv, no secret, no local state reaches an image; the code does."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import REPO


def _regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it (Go filepath.Match plus `**`)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        rules.append((keep, _regex(line.lstrip("!").strip("/"))))
    return rules


def excluded(path: str) -> bool:
    """Whether `docker build` leaves `path` out of the context: the last matching rule wins,
    and a rule that matches a folder covers everything in it."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for keep, rule in _rules():
        if any(rule.fullmatch(candidate) for candidate in candidates):
            verdict = not keep
    return verdict


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "var/secret_key",
        "var/vernissage.sqlite3",
        "var/outputs/7/abc/1/video.mp4",
        "docker/.env",
        "docker/metrics-token",
        "docker/c2pa/signer-key.pem",
        ".git/config",
        "generation/__pycache__/models.cpython-311.pyc",
        "tests/conftest.py",
        "vernissage.egg-info/PKG-INFO",
        "staticfiles/staticfiles.json",
    ],
)
def test_secrets_and_local_state_stay_out_of_the_build_context(path):
    assert excluded(path)


def test_everything_the_images_run_is_in_the_build_context():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    apps = ("access", "config", "containment", "fairness", "generation", "ops", "provenance")
    apps += ("realtime", "review", "webhooks", "static", "templates", "scripts")
    needed = [path for path in tracked if path.split("/")[0] in apps]
    needed += ["manage.py", "pyproject.toml", "scripts/serve_web.sh", "scripts/probe_health.py"]

    assert len(needed) > 100
    assert [path for path in needed if excluded(path)] == []


def test_the_matcher_reads_patterns_as_docker_does():
    assert _regex("**/.env").fullmatch(".env") and _regex("**/.env").fullmatch("a/b/.env")
    assert _regex("*.egg-info").fullmatch("x.egg-info")
    assert not _regex("*.egg-info").fullmatch("a/x.egg-info")
    assert _regex("**/*.py[co]").fullmatch("a/b.pyc")
