"""The model registry: which text-to-video models this deployment serves, and their limits.

Configured by `settings.VERNISSAGE_MODELS` (the `VERNISSAGE_MODELS` environment variable, JSON), a
list of entries such as::

    {"name": "wan-1.3b", "label": "Wan 2.1 1.3B", "source": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
     "dtype": "bfloat16", "device": "cuda", "fps": 16, "slots": 1,
     "defaults": {"num_frames": 33, "width": 832, "height": 480, "steps": 30, "guidance": 5.0},
     "limits": {"num_frames": 81, "width": 832, "height": 832, "steps": 50, "guidance": 12.0}}

Each model has its own Celery queue, `gpu.<name>`. Parsing fails loudly naming the bad entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DTYPES = ("float32", "float16", "bfloat16")
PARAM_KEYS = ("num_frames", "width", "height", "steps", "guidance")


@dataclass(frozen=True)
class Params:
    num_frames: int
    width: int
    height: int
    steps: int
    guidance: float


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str
    source: str
    dtype: str
    device: str
    fps: int
    demo: bool
    enabled: bool
    slots: int  # GPU worker processes serving this model's queue
    defaults: Params
    limits: Params

    @property
    def queue(self) -> str:
        return f"gpu.{self.name}"


def _params(entry: dict, key: str, where: str) -> Params:
    values = entry.get(key)
    if not isinstance(values, dict) or set(values) != set(PARAM_KEYS):
        raise ImproperlyConfigured(f"{where}: '{key}' must give exactly {', '.join(PARAM_KEYS)}")
    try:
        return Params(
            num_frames=int(values["num_frames"]),
            width=int(values["width"]),
            height=int(values["height"]),
            steps=int(values["steps"]),
            guidance=float(values["guidance"]),
        )
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{where}: '{key}' values must be numbers") from None


def parse_model(entry: object, index: int) -> ModelSpec:
    where = f"VERNISSAGE_MODELS[{index}]"
    if not isinstance(entry, dict):
        raise ImproperlyConfigured(f"{where} must be an object")
    name = str(entry.get("name", ""))
    if not NAME_RE.match(name):
        raise ImproperlyConfigured(f"{where}: name {name!r} must match {NAME_RE.pattern}")
    if not entry.get("source"):
        raise ImproperlyConfigured(f"{where} ({name}): 'source' (path or hub id) is required")
    dtype = entry.get("dtype", "float32")
    if dtype not in DTYPES:
        raise ImproperlyConfigured(f"{where} ({name}): dtype {dtype!r} not in {DTYPES}")
    spec = ModelSpec(
        name=name,
        label=str(entry.get("label") or name),
        source=str(entry["source"]),
        dtype=dtype,
        device=str(entry.get("device", "cpu")),
        fps=int(entry.get("fps", 16)),
        demo=bool(entry.get("demo", False)),
        enabled=bool(entry.get("enabled", True)),
        slots=int(entry.get("slots", 1)),
        defaults=_params(entry, "defaults", where),
        limits=_params(entry, "limits", where),
    )
    _check_defaults_within_limits(spec, where)
    if spec.slots < 1:
        raise ImproperlyConfigured(f"{where} ({name}): slots must be at least 1")
    return spec


def _check_defaults_within_limits(spec: ModelSpec, where: str) -> None:
    for key in PARAM_KEYS:
        if getattr(spec.defaults, key) > getattr(spec.limits, key):
            raise ImproperlyConfigured(f"{where} ({spec.name}): default {key} exceeds its limit")


@cache
def _registry(entries_json: str) -> dict[str, ModelSpec]:
    entries = json.loads(entries_json)
    if not isinstance(entries, list) or not entries:
        raise ImproperlyConfigured("VERNISSAGE_MODELS must be a non-empty JSON list")
    specs = [parse_model(entry, i) for i, entry in enumerate(entries)]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ImproperlyConfigured(f"VERNISSAGE_MODELS has duplicate names: {names}")
    return {spec.name: spec for spec in specs}


def _current() -> dict[str, ModelSpec]:
    # Keyed on the configuration itself, so override_settings in tests is honoured.
    return _registry(json.dumps(settings.VERNISSAGE_MODELS, sort_keys=True))


def all_models() -> list[ModelSpec]:
    return list(_current().values())


def enabled_models() -> list[ModelSpec]:
    return [spec for spec in all_models() if spec.enabled]


def get_model(name: str) -> ModelSpec | None:
    return _current().get(name)
