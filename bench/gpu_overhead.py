"""What the platform costs on top of a bare diffusers call, and how busy it keeps the GPU.

Needs a CUDA GPU (it exits with status 2 otherwise):

    python bench/gpu_overhead.py                          # 33 frames 480x832, 20 steps
    python bench/gpu_overhead.py --frames 9 --width 256 --height 256 --steps 4 --layers 2 \\
        --repeats 2 --backlog 3                           # a quick check of a GPU machine

Model: a Wan2.1-T2V-1.3B-class pipeline with random weights, built on the spot, saved to a scratch
folder and loaded back in bfloat16 the way a worker loads any model. The transformer has the 1.3B
architecture (30 layers, 12 heads x 128, ffn 8960, text_dim 4096), the VAE is diffusers' default
`AutoencoderKLWan` (the Wan 2.1 VAE) and the scheduler is UniPC with flow shift 3.0, as Wan ships.
The text encoder is smaller than Wan's: a 2-layer UMT5 of width 4096 with a tiny word-level
vocabulary instead of the 24-layer UMT5-XXL (5.7 B parameters). It runs once per job, before the
denoising loop, identically in (a) and (b).

Alternating A/B at least 5 times (the order flips every round), after one unmeasured warm-up each:

(a) bare: `pipe(...)` with the arguments the runner passes (output_type "np"), then
    `generation.pipeline.video.encode_video` (H.264 MP4 + poster) into a scratch folder.
(b) platform: one `generation.models.Job` row run by `generation.worker.job_execute`, the body of
    the Celery task: claim (conditional UPDATE), `runner.render` with the worker's step callback
    (progress UPDATE and publish, cancel check), previews if the worker asks for them, encoding,
    hashing, moving into outputs storage, `job_finalize` (the output enters the review queue).
    Timed from the call until the row is final. The device machine has no PostgreSQL or Redis:
    SQLite (WAL), Channels' in-memory layer, Django's local-memory cache and Celery's memory://
    broker stand in for them, so (b) pays for real database writes and channel sends, not for
    network round trips to those servers.

Backlog: N jobs queued at once and run one after another through the same worker code, as a
worker with concurrency 1 would. Busy fraction = GPU time inside transformer forward passes (CUDA
events) / wall time from the first claim until the last job is final.

The last line printed is one JSON object: gpu, model, bare_s, platform_s, ratio, backlog_jobs,
backlog_busy_fraction (and the parameters).

`--device cpu --tiny` (not in --help) runs the whole script on the CPU with the tiny demo model,
9 frames 64x64, 4 steps, previews every 2 steps: a test of this script, not a measurement.

`--cpu-path` measures, without a GPU, what the worker does on the CPU after each render, with the
pipeline replaced by a stand-in that "renders" for a set time (sleeping, as a host thread waiting
on a GPU does) and returns a fresh decoded clip (a panning photo, 832x480 by default) in the
output type the runner asks for. Everything after that is the real worker code of the checkout
the script is run from (copy it into another checkout to measure that one):

- post-render CPU per job, 33 and 81 frames: CPU time of the whole process (every thread) and of
  its children (ffmpeg) from the moment the pipeline returns until the job is final, jobs run one
  at a time (the uint8 conversion, marking, x264, poster, C2PA, hashing, storing, finalize);
- the render-to-next-render gap under a backlog of `--backlog` jobs run back to back as a worker
  with concurrency 1 runs them: from one pipeline call's return to the next call's start.
  The projected GPU busy fraction is R / (R + median gap) with R the H100 render time per job
  (9.0 s for 33 frames, 26.5 s for 81: denoise plus VAE decode, docs/benchmarks.md).

    python bench/gpu_overhead.py --cpu-path               # about 5 minutes on 2 cores
"""

# Project modules are imported inside functions: they need django.setup(), which main() runs
# first (and the pipeline pulls in torch, which only the GPU paths should pay for).

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "a red fox running through the snow in the forest at night, film photo"
NEGATIVE_PROMPT = "blurry, static"
SEED = 1234
GUIDANCE = 5.0
WORKER_NAME = "gpu-overhead-bench"
GOAL_RATIO, GOAL_BUSY = 1.02, 0.97
MIN_REPEATS, MIN_BACKLOG = 5, 10
NO_CUDA = (
    "bench/gpu_overhead.py measures overhead on a GPU, but torch.cuda.is_available() is False "
    "here (torch {version}, CUDA build: {cuda}). Run it on a machine with an NVIDIA GPU and a "
    "CUDA build of torch."
)


@dataclass(frozen=True)
class Setup:
    device: str
    dtype: str
    fps: int
    model_label: str
    frames: int
    width: int
    height: int
    steps: int
    preview_every: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--layers", type=int, default=30, help="transformer layers (1.3B: 30)")
    parser.add_argument("--repeats", type=int, default=MIN_REPEATS, help="A/B rounds")
    parser.add_argument("--backlog", type=int, default=MIN_BACKLOG, help="jobs in the backlog")
    parser.add_argument("--preview-every", type=int, default=5, help="steps between previews")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument(
        "--cpu-path",
        action="store_true",
        help="measure the post-render CPU path and the gap between renders (no GPU needed)",
    )
    parser.add_argument("--cpu-jobs", type=int, default=3, help="--cpu-path: serial jobs per size")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(CPU_SIZES), help="--cpu-path: frame counts"
    )
    parser.add_argument(
        "--render-s",
        type=float,
        nargs=2,
        default=(3.0, 7.0),
        metavar=("S33", "S81"),
        help="--cpu-path: stand-in render time for 33 and 81 frames",
    )
    # A CPU smoke test of this script with the tiny demo model: not a measurement.
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    if "--tiny" in (sys.argv[1:] if argv is None else argv):
        # Every 5 steps would never fire in 4 steps.
        parser.set_defaults(frames=9, width=64, height=64, steps=4, preview_every=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cpu_path:
        work = Path(tempfile.mkdtemp(prefix="vernissage-cpu-path-"))
        try:
            return run_cpu_path(args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    refusal = _refusal(args)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="vernissage-gpu-bench-"))
    try:
        return run(args, work)
    finally:
        if args.keep:
            print(f"scratch folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _refusal(args: argparse.Namespace) -> str:
    try:
        import torch
    except ImportError:
        return "bench/gpu_overhead.py needs torch with CUDA; torch is not installed."
    if args.device == "cpu" and not args.tiny:
        return "A real-size model on the CPU measures nothing useful; the CPU mode needs --tiny."
    if args.device == "cuda" and not torch.cuda.is_available():
        return NO_CUDA.format(version=torch.__version__, cuda=torch.version.cuda or "none")
    return ""


def run(args: argparse.Namespace, work: Path) -> int:
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    setup, model_dir = build_model(args, work / "model")
    configure_django(setup, model_dir, work / "data")
    from generation.pipeline import runner
    from generation.registry import get_model

    spec = get_model(MODEL_NAME)
    started = time.perf_counter()
    pipe = runner.load_pipeline(spec)
    load_s = time.perf_counter() - started
    owner = bench_owner()
    previews = PreviewCounter()
    bare = partial(run_bare, pipe, spec, setup, work / "bare")
    platform = partial(run_platform, owner, setup)

    print_header(setup, load_s)
    print(f"warm-up (not counted): bare {bare():.2f} s, platform {platform():.2f} s")
    bare_times, platform_times = alternate(bare, platform, args.repeats, previews)
    backlog_s, busy_s = run_backlog(pipe, owner, setup, args.backlog)
    summary = summarise(setup, args, bare_times, platform_times, backlog_s, busy_s, previews)
    print(json.dumps(summary))
    return 0


# --- the model -----------------------------------------------------------------------------------

MODEL_NAME = "bench-wan"


def build_model(args: argparse.Namespace, path: Path) -> tuple[Setup, Path]:
    common = {
        "frames": args.frames,
        "width": args.width,
        "height": args.height,
        "steps": args.steps,
        "preview_every": args.preview_every,
    }
    if args.tiny:
        from generation.pipeline.demo import ensure_demo_model

        ensure_demo_model(path)
        label = "demo-wan-tiny (random weights, float32)"
        return Setup(device=args.device, dtype="float32", fps=8, model_label=label, **common), path
    started = time.perf_counter()
    build_wan_1_3b_class(layers=args.layers).save_pretrained(path)
    gc.collect()
    _empty_cuda_cache()
    print(f"built and saved the random-weight model in {time.perf_counter() - started:.1f} s")
    label = (
        f"Wan2.1-T2V-1.3B-class (random weights, bfloat16; transformer {args.layers} layers, "
        "12x128 heads, ffn 8960; AutoencoderKLWan; UniPC flow shift 3; text encoder: "
        "2-layer UMT5 d4096, tiny vocabulary)"
    )
    return Setup(device="cuda", dtype="bfloat16", fps=16, model_label=label, **common), path


def build_wan_1_3b_class(*, layers: int, device: str = "cuda") -> Any:
    """Random weights in the Wan2.1-T2V-1.3B architecture, built on ``device``, in bfloat16."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    from generation.pipeline.demo import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(SEED)
    with torch.device(device):
        transformer = WanTransformer3DModel(
            num_attention_heads=12,
            attention_head_dim=128,
            ffn_dim=8960,
            num_layers=layers,
            text_dim=4096,
            freq_dim=256,
            in_channels=16,
            out_channels=16,
        )
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(tokenizer),
                d_model=4096,
                d_kv=64,
                num_heads=64,
                d_ff=10240,
                num_layers=2,
                feed_forward_proj="gated-gelu",
                dropout_rate=0.0,
            )
        )
        vae = AutoencoderKLWan()
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    pipe = WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder.eval(),
        vae=vae.eval(),
        scheduler=scheduler,
        transformer=transformer.eval(),
    )
    # Stored in bfloat16 to halve the files; from_pretrained puts the modules Wan keeps in float32
    # back in float32 (diffusers warns about this cast for that reason).
    return pipe.to(dtype=torch.bfloat16)


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --- Django with stand-ins for PostgreSQL and Redis ----------------------------------------------


def configure_django(
    setup: Setup, model_dir: Path, data_dir: Path, *, broker: str = "memory://"
) -> None:
    """Real settings, with SQLite, in-memory channels and cache, a memory broker, and our model."""
    data_dir.mkdir(parents=True)
    params = {
        "num_frames": setup.frames,
        "width": setup.width,
        "height": setup.height,
        "steps": setup.steps,
        "guidance": GUIDANCE,
    }
    model = {
        "name": MODEL_NAME,
        "source": str(model_dir),
        "dtype": setup.dtype,
        "device": setup.device,
        "fps": setup.fps,
        "defaults": params,
        "limits": params,
    }
    os.environ.update(
        {
            "DJANGO_DEBUG": "0",  # no query logging: measure what production runs
            "VERNISSAGE_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
            "CELERY_BROKER_URL": broker,
            "VERNISSAGE_LOG_LEVEL": "WARNING",
            "VERNISSAGE_MODELS": json.dumps([model]),
            "VERNISSAGE_PREVIEW_EVERY": str(setup.preview_every),
        }
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = _settings_module().__name__
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def _settings_module() -> types.ModuleType:
    base = importlib.import_module("config.settings")
    module = types.ModuleType("gpu_overhead_settings")
    module.__dict__.update({k: v for k, v in vars(base).items() if k.isupper()})
    module.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    module.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    sys.modules[module.__name__] = module
    return module


def bench_owner() -> Any:
    from access.models import User

    return User.objects.create_user(
        username="gpu-bench", email="gpu-bench@bench.local", is_staff=True
    )


# --- (a) and (b) ----------------------------------------------------------------------------------


def run_bare(pipe: Any, spec: Any, setup: Setup, folder: Path) -> float:
    import numpy as np
    import torch

    from generation.pipeline.video import encode_video

    folder.mkdir(exist_ok=True)
    generator = torch.Generator(device=spec.device).manual_seed(SEED)
    started = time.perf_counter()
    with torch.inference_mode():
        output = pipe(
            prompt=PROMPT,
            negative_prompt=NEGATIVE_PROMPT,
            num_frames=setup.frames,
            width=setup.width,
            height=setup.height,
            num_inference_steps=setup.steps,
            guidance_scale=GUIDANCE,
            generator=generator,
            output_type="np",
        )
    frames = np.asarray(output.frames[0], dtype=np.float32)
    encode_video(
        frames, fps=setup.fps, video_path=folder / "video.mp4", poster_path=folder / "poster.jpg"
    )
    return time.perf_counter() - started


def run_platform(owner: Any, setup: Setup) -> float:
    job = queue_jobs(owner, setup, 1)[0]
    started = time.perf_counter()
    execute(job)
    wait_until_final([job])
    return time.perf_counter() - started


def queue_jobs(owner: Any, setup: Setup, count: int) -> list[Any]:
    """Jobs as the dispatcher leaves them: queued, with a message (dispatch id) on its way."""
    from django.utils import timezone

    from generation.models import Job

    return [
        Job.objects.create(
            owner=owner,
            model_name=MODEL_NAME,
            prompt=PROMPT,
            negative_prompt=NEGATIVE_PROMPT,
            seed=SEED,
            num_frames=setup.frames,
            width=setup.width,
            height=setup.height,
            steps=setup.steps,
            guidance=GUIDANCE,
            dispatched_at=timezone.now(),
            dispatch_id=uuid.uuid4(),
        )
        for _ in range(count)
    ]


def execute(job: Any) -> None:
    from generation.models import Job
    from generation.worker import job_execute

    # The message carries the dispatch id current in the row, as a real delivery would.
    dispatch_id = Job.objects.values_list("dispatch_id", flat=True).get(id=job.id)
    job_execute(job_id=job.id, dispatch_id=dispatch_id, worker=WORKER_NAME)


def wait_until_final(jobs: list[Any], timeout_s: float = 600) -> None:
    """Until every job is final (the worker may hand encoding to a thread and return early)."""
    from generation.models import Job

    deadline = time.monotonic() + timeout_s
    ids = [job.id for job in jobs]
    while time.monotonic() < deadline:
        rows = list(Job.objects.filter(id__in=ids).values_list("state", "error"))
        if all(state in Job.FINAL_STATES for state, _ in rows):
            failed = [(state, error) for state, error in rows if state != Job.State.SUCCEEDED]
            if failed:
                raise RuntimeError(f"Platform job did not succeed: {failed[0]}")
            return
        time.sleep(0.005)
    raise TimeoutError(f"Jobs not final after {timeout_s} s")


def alternate(
    bare: Callable[[], float], platform: Callable[[], float], rounds: int, previews: PreviewCounter
) -> tuple[list[float], list[float]]:
    """Run A and B `rounds` times each, flipping the order every round."""
    bare_times, platform_times = [], []
    for index in range(rounds):
        if index % 2 == 0:
            bare_times.append(bare())
            with previews.counting():
                platform_times.append(platform())
        else:
            with previews.counting():
                platform_times.append(platform())
            bare_times.append(bare())
        print(
            f"round {index + 1}/{rounds}: bare {bare_times[-1]:.3f} s, "
            f"platform {platform_times[-1]:.3f} s"
        )
    previews.per_job = previews.count / max(1, rounds)
    return bare_times, platform_times


class PreviewCounter:
    """Counts previews the runner makes while (b) runs, by wrapping `previews.preview_tensor`."""

    def __init__(self) -> None:
        self.count = 0
        self.per_job = 0.0

    @contextmanager
    def counting(self) -> Iterator[None]:
        from generation.pipeline import previews

        original = previews.preview_tensor

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        previews.preview_tensor = counted
        try:
            yield
        finally:
            previews.preview_tensor = original


# --- backlog --------------------------------------------------------------------------------------


class DenoiseClock:
    """Time inside the transformer's forward passes: CUDA events on a GPU (no synchronisation)."""

    def __init__(self, module: Any, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.spans: list[tuple[Any, Any]] = []
        self._open: Any = None
        self.handles = [
            module.register_forward_pre_hook(self._start),
            module.register_forward_hook(self._end),
        ]

    def _mark(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def _start(self, module: Any, args: Any) -> None:
        self._open = self._mark()

    def _end(self, module: Any, args: Any, output: Any) -> None:
        self.spans.append((self._open, self._mark()))

    def seconds(self) -> float:
        if not self.cuda:
            return sum(end - start for start, end in self.spans)
        import torch

        torch.cuda.synchronize()
        return sum(start.elapsed_time(end) for start, end in self.spans) / 1000

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def run_backlog(pipe: Any, owner: Any, setup: Setup, count: int) -> tuple[float, float]:
    jobs = queue_jobs(owner, setup, count)
    clock = DenoiseClock(pipe.transformer, setup.device)
    try:
        started = time.perf_counter()
        for job in jobs:
            execute(job)
        wait_until_final(jobs)
        wall = time.perf_counter() - started
        busy = clock.seconds()
    finally:
        clock.close()
    print(
        f"backlog: {count} jobs in {wall:.2f} s, denoising {busy:.2f} s, "
        f"busy fraction {busy / wall:.3f} (goal >= {GOAL_BUSY})"
    )
    return wall, busy


# --- report ---------------------------------------------------------------------------------------


def print_header(setup: Setup, load_s: float) -> None:
    import diffusers
    import torch

    versions = f"torch {torch.__version__}, diffusers {diffusers.__version__}"
    print(f"device: {device_name(setup)}; {versions}")
    print(f"model: {setup.model_label}; loaded in {load_s:.2f} s")
    print(
        f"job: {setup.frames} frames {setup.width}x{setup.height}, {setup.steps} steps, "
        f"guidance {GUIDANCE}, previews every {setup.preview_every} steps if the worker sends them"
    )
    print(
        "(b) = generation.worker.job_execute on a real Job row; SQLite, in-memory channel layer "
        "and cache, memory:// broker stand in for PostgreSQL and Redis"
    )


def device_name(setup: Setup) -> str:
    if setup.device == "cpu":
        return "cpu (smoke test)"
    import torch

    return torch.cuda.get_device_name()


def summarise(
    setup: Setup,
    args: argparse.Namespace,
    bare_times: list[float],
    platform_times: list[float],
    backlog_s: float,
    busy_s: float,
    previews: PreviewCounter,
) -> dict:
    bare_s, platform_s = statistics.median(bare_times), statistics.median(platform_times)
    ratio = platform_s / bare_s
    print(
        f"median: bare {bare_s:.3f} s, platform {platform_s:.3f} s, "
        f"ratio {ratio:.3f} (goal <= {GOAL_RATIO})"
    )
    print(f"previews made per platform job: {previews.per_job:g}")
    if previews.per_job == 0 and setup.steps > setup.preview_every:
        print("note: the worker sent no previews, so (b) ran without them")
    if args.repeats < MIN_REPEATS or args.backlog < MIN_BACKLOG:
        print(f"note: fewer than {MIN_REPEATS} rounds or {MIN_BACKLOG} backlog jobs: a smoke run")
    return {
        "gpu": device_name(setup) if setup.device == "cuda" else None,
        "device": device_name(setup),
        "model": setup.model_label,
        "bare_s": round(bare_s, 4),
        "platform_s": round(platform_s, 4),
        "ratio": round(ratio, 4),
        "backlog_jobs": args.backlog,
        "backlog_busy_fraction": round(busy_s / backlog_s, 4),
        "rounds": args.repeats,
        "frames": setup.frames,
        "width": setup.width,
        "height": setup.height,
        "steps": setup.steps,
        "preview_every": setup.preview_every,
        "previews_per_platform_job": previews.per_job,
        "platform_path": "generation.worker.job_execute; SQLite + in-memory channels/cache",
    }


# --- the CPU path (no GPU) -----------------------------------------------------------------------

H100_RENDER_S = {33: 9.0, 81: 26.5}  # denoise + VAE decode per job (docs/benchmarks.md, FACTS.md)
CPU_SIZES = (33, 81)


class StandInPipeline:
    """Takes the diffusers pipeline's place in the runner's cache: reports each step, "renders"
    for `render_s`, and returns a fresh copy of `clip` in the output type asked for ("np": float32
    (1, F, H, W, 3) as diffusers returns it; "pt": a float32 tensor (1, F, 3, H, W))."""

    def __init__(self, steps: int) -> None:
        self.num_timesteps = steps
        self.render_s = 0.0
        self.clip: Any = None
        self.spans: list[tuple[float, float]] = []
        self.cpu_at_return = 0.0

    def __call__(self, *, output_type: str, callback_on_step_end: Any = None, **_: Any) -> Any:
        import numpy as np
        import torch

        started = time.perf_counter()
        if output_type == "pt":
            frames: Any = torch.from_numpy(self.clip).permute(0, 3, 1, 2).contiguous()[None]
        else:
            frames = np.ascontiguousarray(self.clip)[None].copy()
        for index in range(self.num_timesteps):
            if callback_on_step_end is not None:
                callback_on_step_end(self, index, None, {})
            time.sleep(
                max(
                    0.0,
                    started
                    + self.render_s * (index + 1) / self.num_timesteps
                    - time.perf_counter(),
                )
            )
        self.cpu_at_return = cpu_seconds()
        self.spans.append((started, time.perf_counter()))
        return types.SimpleNamespace(frames=frames)


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its waited-for children (ffmpeg)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def panning_clip(frames: int, width: int, height: int) -> Any:
    """A photo panning across the frame: x264 works on it as on real footage (noise would be
    incompressible, flat colour free)."""
    import cv2
    import numpy as np
    from skimage import data

    photo = cv2.resize(data.astronaut(), (width + 4 * frames, height))
    clip = np.stack([photo[:, 4 * i : 4 * i + width] for i in range(frames)])
    return (clip.astype(np.float32) / 255.0).clip(0.0, 1.0)


def run_cpu_path(args: argparse.Namespace, work: Path) -> int:
    width, height, steps = args.width, args.height, 4
    biggest = max(CPU_SIZES)
    setup = Setup("cpu", "float32", 16, "stand-in", biggest, width, height, steps, 0)
    os.environ.setdefault(
        "CELERY_BROKER_URL", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    configure_django(setup, work / "model", work / "data", broker=os.environ["CELERY_BROKER_URL"])
    from generation.pipeline import runner
    from generation.registry import get_model

    spec = get_model(MODEL_NAME)
    pipe = StandInPipeline(steps)
    runner._cache.pipelines[(spec.name, spec.source, spec.dtype, spec.device)] = pipe
    owner = bench_owner()
    print(f"code: {describe_checkout()}")
    print(
        f"stand-in render: {args.render_s[0]} s (33 frames), {args.render_s[1]} s (81 frames); "
        f"{width}x{height}; SQLite, in-memory channel layer and cache; load {load_average()}"
    )
    summary: dict[str, Any] = {
        "mode": "cpu_path",
        "code": describe_checkout(),
        "width": width,
        "height": height,
        "backlog_jobs": args.backlog,
    }
    for frames, render_s in zip(CPU_SIZES, args.render_s, strict=True):
        if frames not in args.sizes:
            continue
        pipe.clip, pipe.render_s = panning_clip(frames, width, height), render_s
        shape = Setup("cpu", "float32", 16, "stand-in", frames, width, height, steps, 0)
        execute_and_finish(queue_jobs(owner, shape, 1))  # warm-up (imports, first files)
        summary.update(measure_serial(pipe, owner, shape, frames, args.cpu_jobs))
        if args.backlog > 1:
            summary.update(measure_backlog(pipe, owner, shape, frames, args.backlog, render_s))
    summary["load_average"] = load_average()
    print(json.dumps(summary))
    return 0


def execute_and_finish(jobs: list[Any]) -> None:
    for job in jobs:
        execute(job)
    finish_encoding()
    wait_until_final(jobs)


def finish_encoding() -> None:
    """Wait for the worker's encoding stage where there is one (it finishes jobs after the task
    returns); without one, `job_execute` returned with the job final."""
    from generation import worker

    stage = getattr(worker, "encoding_stage", None)
    if stage is not None:
        stage.drain()


def measure_serial(
    pipe: StandInPipeline, owner: Any, shape: Setup, frames: int, count: int
) -> dict:
    cpu, wall = [], []
    for job in queue_jobs(owner, shape, count):
        gc.collect()
        execute(job)
        finish_encoding()
        cpu.append(cpu_seconds() - pipe.cpu_at_return)
        wall.append(time.perf_counter() - pipe.spans[-1][1])
        wait_until_final([job])
    print(
        f"{frames} frames: post-render CPU per job {statistics.median(cpu):.2f} s "
        f"(runs {', '.join(f'{c:.2f}' for c in cpu)}), wall {statistics.median(wall):.2f} s"
    )
    return {
        f"post_render_cpu_s_{frames}": round(statistics.median(cpu), 3),
        f"post_render_wall_s_{frames}": round(statistics.median(wall), 3),
    }


def measure_backlog(
    pipe: StandInPipeline, owner: Any, shape: Setup, frames: int, count: int, render_s: float
) -> dict:
    jobs = queue_jobs(owner, shape, count)
    first = len(pipe.spans)
    started = time.perf_counter()
    execute_and_finish(jobs)
    wall = time.perf_counter() - started
    spans = pipe.spans[first:]
    gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(spans)]
    gap = statistics.median(gaps)
    rendering = sum(end - start for start, end in spans)
    busy = rendering / (spans[-1][1] - spans[0][0])
    projected = H100_RENDER_S[frames] / (H100_RENDER_S[frames] + gap)
    print(
        f"{frames} frames, backlog of {count}: render-to-next-render gap median {gap:.3f} s, "
        f"max {max(gaps):.3f} s; stand-in busy fraction {busy:.3f}; all final after "
        f"{wall:.1f} s; projected H100 busy fraction {projected:.3f} (goal >= {GOAL_BUSY})"
    )
    return {
        f"gap_median_s_{frames}": round(gap, 3),
        f"gap_max_s_{frames}": round(max(gaps), 3),
        f"standin_busy_fraction_{frames}": round(busy, 4),
        f"projected_busy_fraction_{frames}": round(projected, 4),
    }


def describe_checkout() -> str:
    import subprocess

    def git(*command: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *command], capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = " (uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{ROOT.name} {git('rev-parse', '--short', 'HEAD')}{dirty}"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
