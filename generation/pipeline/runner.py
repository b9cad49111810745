"""Load diffusers pipelines once per process and render videos with cooperative cancellation.

Functions that take a ``spec`` accept any object with these attributes (see ``PipelineSpec``):

- ``name``: the registry name; only part of the cache key.
- ``source``: a local directory, or a hub id already in the local Hugging Face cache.
- ``dtype``: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
- ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ...

A cached pipeline is shared process-wide and is not reentrant: run one ``render`` at a time per
pipeline (a GPU worker with concurrency 1 does).
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from generation.pipeline.constraints import check_shape

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")

# Called after each denoising step with (steps_done, total_steps); returning False cancels.
StepCallback = Callable[[int, int], bool]


class PipelineSpec(Protocol):
    name: str
    source: str
    dtype: str
    device: str


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    negative_prompt: str
    seed: int
    num_frames: int
    width: int
    height: int
    steps: int
    guidance_scale: float


class RenderCancelled(Exception):
    """The step callback asked to stop; the partial video was discarded."""


@dataclass
class _Cache:
    pipelines: dict[tuple[str, str, str, str], DiffusionPipeline] = field(default_factory=dict)
    loads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache = _Cache()


def load_pipeline(spec: PipelineSpec) -> DiffusionPipeline:
    """Return the process-wide pipeline for ``spec``, loading it on first use.

    Loading a real model takes seconds; reloading per job would nearly double a short job.
    """
    key = (spec.name, spec.source, spec.dtype, spec.device)
    with _cache.lock:
        if key not in _cache.pipelines:
            _cache.pipelines[key] = _load(spec)
            _cache.loads += 1
        return _cache.pipelines[key]


def _load(spec: PipelineSpec) -> DiffusionPipeline:
    if spec.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {spec.dtype!r}.")
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()  # one log line below says the same, once
    started = time.monotonic()
    pipe = DiffusionPipeline.from_pretrained(spec.source, dtype=getattr(torch, spec.dtype))
    pipe.to(spec.device)
    pipe.set_progress_bar_config(disable=True)
    logger.info(
        "Loaded pipeline %s (%s, %s on %s) in %.2f s",
        spec.name,
        type(pipe).__name__,
        spec.dtype,
        spec.device,
        time.monotonic() - started,
    )
    return pipe


def loaded_pipeline_count() -> int:
    """How many times this process loaded a pipeline from its source since the cache was cleared."""
    return _cache.loads


def clear_pipeline_cache() -> None:
    with _cache.lock:
        _cache.pipelines.clear()
        _cache.loads = 0
    gc.collect()
    torch = sys.modules.get("torch")  # never import torch just to free memory it never held
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def render(spec: PipelineSpec, request: RenderRequest, on_step: StepCallback) -> np.ndarray:
    """Render ``request`` and return float frames in [0, 1] shaped (frames, height, width, 3).

    Raises ``ValueError`` for a shape the model cannot produce, and ``RenderCancelled`` when
    ``on_step`` returns False (no further steps run).
    """
    _validate(request)
    import torch

    pipe = load_pipeline(spec)
    relay = _StepRelay(on_step)
    generator = torch.Generator(device=spec.device).manual_seed(request.seed)
    with torch.inference_mode():
        output = pipe(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            num_frames=request.num_frames,
            width=request.width,
            height=request.height,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            generator=generator,
            output_type="np",
            callback_on_step_end=relay,
            callback_on_step_end_tensor_inputs=[],
        )
    if relay.cancelled_at:
        raise RenderCancelled(f"cancelled after step {relay.cancelled_at} of {request.steps}")
    return np.asarray(output.frames[0], dtype=np.float32)


def _validate(request: RenderRequest) -> None:
    errors = check_shape(request.num_frames, request.width, request.height)
    if request.steps < 1:
        errors["steps"] = f"steps must be at least 1; got {request.steps}."
    if errors:
        raise ValueError(" ".join(errors.values()))


class _StepRelay:
    """Adapts ``on_step`` to diffusers' ``callback_on_step_end``; remembers where it cancelled."""

    def __init__(self, on_step: StepCallback) -> None:
        self.on_step = on_step
        self.cancelled_at = 0

    def __call__(self, pipe: Any, index: int, timestep: Any, tensors: dict) -> dict:
        steps_done = index + 1
        if not self.on_step(steps_done, pipe.num_timesteps):
            self.cancelled_at = steps_done
            # Wan skips the remaining steps once this is set; each pipeline call resets it.
            pipe._interrupt = True
        return {}
