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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from generation.pipeline.constraints import check_shape
from generation.pipeline.previews import can_preview, preview_tensor
from generation.pipeline.video import to_uint8

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")

# Called after each denoising step with (steps_done, total_steps); returning False cancels.
StepCallback = Callable[[int, int], bool]
# Called with (step, total_steps, frames): uint8 RGB frames (F, h, w, 3), longest side <= 256.
PreviewCallback = Callable[[int, int, np.ndarray], None]


class PipelineSpec(Protocol):
    # Read-only, so frozen dataclasses such as the registry's ModelSpec satisfy it.
    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def device(self) -> str: ...


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
    """The step callback asked to stop; nothing more ran (no further step, no VAE decode)."""


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


def render(
    spec: PipelineSpec,
    request: RenderRequest,
    on_step: StepCallback,
    *,
    on_preview: PreviewCallback | None = None,
    preview_every: int = 0,
) -> np.ndarray:
    """Render ``request`` and return its pixels: uint8 RGB frames shaped (frames, height, width, 3).

    ``on_step(steps_done, total)`` runs after every denoising step; returning False stops the run
    at once, before the VAE decode, and ``render`` raises ``RenderCancelled``. With ``on_preview``
    and ``preview_every`` > 0, ``on_preview(step, total, frames)`` receives a small preview (see
    ``previews``) every ``preview_every`` steps, never for the last step nor after a cancel.
    Raises ``ValueError`` for a shape the model cannot produce.
    """
    _validate(request)
    import torch

    pipe = load_pipeline(spec)
    previews = (
        _PreviewRelay(on_preview, preview_every) if on_preview and preview_every > 0 else None
    )
    relay = _StepRelay(on_step, previews)
    generator = torch.Generator(device=spec.device).manual_seed(request.seed)
    try:
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
                output_type="pt",
                callback_on_step_end=relay,
                callback_on_step_end_tensor_inputs=["latents"] if previews else [],
            )
            return to_pixels(output.frames[0])
    except _Stop as stop:
        raise RenderCancelled(f"cancelled after step {stop.step} of {request.steps}") from None


def to_pixels(video: Any) -> np.ndarray:
    """A decoded video, floats in [0, 1] shaped (F, 3, H, W) on the render's device, as uint8
    (F, H, W, 3) on the host: exactly what rounding the float frames gives.

    Converted where the frames are, in place (on the GPU for a GPU run), so only a quarter of the
    bytes cross to the host and no float32 copy of the clip is ever made there: the float path
    page-faulted 0.5 GB (33 frames 832x480) to 1.2 GB (81 frames) of temporaries per job. Call
    it inside ``torch.inference_mode()`` (the pipeline's output is an inference tensor).
    """
    import torch

    if not isinstance(video, torch.Tensor):  # a pipeline that ignored output_type="pt"
        return to_uint8(np.asarray(video))
    if video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(f"Expected frames shaped (F, 3, H, W); got {tuple(video.shape)}.")
    count, channels, height, width = video.shape
    video.clamp_(0.0, 1.0).mul_(255.0).round_()
    pixels = torch.empty((count, height, width, channels), dtype=torch.uint8, device=video.device)
    pixels.copy_(video.permute(0, 2, 3, 1))  # values are whole numbers: the cast is exact
    return pixels.cpu().numpy()


def _validate(request: RenderRequest) -> None:
    errors = check_shape(request.num_frames, request.width, request.height)
    if request.steps < 1:
        errors["steps"] = f"steps must be at least 1; got {request.steps}."
    if errors:
        raise ValueError(" ".join(errors.values()))


class _Stop(Exception):
    """Raised inside the step callback to leave the pipeline before the next step and the decode.

    Setting ``pipe._interrupt`` instead would skip the remaining steps but still run the VAE
    decode, which costs as much as a few steps. diffusers 0.42's ``WanPipeline.__call__`` lets an
    exception from ``callback_on_step_end`` propagate; everything it leaves behind
    (``_interrupt``, ``_current_timestep``, the scheduler's step index, the progress bar's
    context) is reset or closed at the start of the next call. Only ``maybe_free_model_hooks``
    is skipped, which matters for CPU offload, a mode this runner never enables.
    """

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


class _StepRelay:
    """Adapts ``on_step`` (and previews) to diffusers' ``callback_on_step_end``."""

    def __init__(self, on_step: StepCallback, previews: _PreviewRelay | None) -> None:
        self.on_step = on_step
        self.previews = previews

    def __call__(self, pipe: Any, index: int, timestep: Any, tensors: dict) -> dict:
        steps_done, total = index + 1, pipe.num_timesteps
        if not self.on_step(steps_done, total):
            raise _Stop(steps_done)
        if self.previews is not None:
            self.previews.after_step(pipe, index, total, tensors["latents"])
        return {}


class _PreviewRelay:
    """Makes a preview every ``every`` steps and hands it to ``on_preview``.

    On a GPU the preview is copied to pinned host memory without waiting, and handed over at a
    later step once the copy is done: waiting would drain the GPU's queue and leave it idle while
    the worker encodes and sends the image. Previews still in flight when the render ends are
    dropped (the video is about to arrive). A failing preview is logged and turns previews off
    for the rest of the render; it never fails the render.
    """

    def __init__(self, on_preview: PreviewCallback, every: int) -> None:
        self.on_preview = on_preview
        self.every = every
        self.enabled = True
        self.previous: Any = None  # latents after the previous step, for the clean estimate
        self.pending: deque[tuple[int, int, Any, Any]] = deque()  # (step, total, host, event)

    def after_step(self, pipe: Any, index: int, total: int, latents: Any) -> None:
        if not self.enabled:
            return
        step = index + 1
        try:
            self._deliver_ready()
            if step % self.every == 0 and step < total:
                self._start(step, total, _clean_estimate(pipe, index, self.previous, latents))
        except Exception:
            logger.exception("Preview at step %d failed; no more previews for this render", step)
            self.enabled = False
        # The scheduler returns a new tensor each step, so keeping a reference copies nothing.
        self.previous = latents

    def _start(self, step: int, total: int, latents: Any) -> None:
        if not can_preview(latents):
            logger.info("No previews for latents shaped %s", tuple(latents.shape))
            self.enabled = False
            return
        frames = preview_tensor(latents)
        if frames.device.type != "cuda":
            self.on_preview(step, total, frames.cpu().numpy())
            return
        import torch

        host = torch.empty(frames.shape, dtype=frames.dtype, pin_memory=True)
        host.copy_(frames, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self.pending.append((step, total, host, done))

    def _deliver_ready(self) -> None:
        while self.pending and self.pending[0][3].query():
            step, total, host, _ = self.pending.popleft()
            self.on_preview(step, total, host.numpy())


def _clean_estimate(pipe: Any, index: int, previous: Any, latents: Any) -> Any:
    """The denoised video the current step points at, or the noisy latents if unknown.

    Mid-run latents are mostly noise (at step 5 of 20 Wan's shifted schedule is ~90 % noise).
    Flow-matching samples lie on x_s = x_0 + s * v, so two consecutive samples give v and hence
    x_0 — exact for Euler steps, a close approximation for multistep solvers such as UniPC.
    """
    sigmas = getattr(pipe.scheduler, "sigmas", None)
    if previous is None or sigmas is None or len(sigmas) != pipe.num_timesteps + 1:
        return latents
    sigma_before, sigma_after = float(sigmas[index]), float(sigmas[index + 1])
    if not 1.0 + 1e-4 >= sigma_before > sigma_after >= 0.0:  # not flow-matching sigmas
        return latents
    velocity = (latents - previous) / (sigma_after - sigma_before)
    return latents - sigma_after * velocity
