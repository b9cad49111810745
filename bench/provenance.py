"""Leak-trace robustness: mark realistic clips, attack them, and count exact ids and false ids.

Clips are scikit-image photographs with a slow pan and zoom (832x480, 33 frames, 16 fps), marked
with `generation.marks.mark_frames` (what the worker calls before encoding) and encoded as the
worker encodes (`encode_video`, H.264 CRF 20). Each is then attacked with ffmpeg; the attacked copy
is read back and detected with every configured key, as a trace does. Clean (unmarked) copies and
a wrong key measure false ids.

    .venv/bin/python bench/provenance.py [--outputs N]

Prints one line per attack, then one JSON object (last line). No database: serials are checked
against the serial each clip was given; the lookup a trace adds is an indexed query.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "retina"]
# Attackers' encodes use x264's veryfast preset (what upload pipelines use; and it keeps the bench
# inside minutes). The outputs themselves are encoded exactly as the worker encodes them.
H264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
FAST = ["-c:v", "libx264", "-preset", "veryfast"]
SOCIAL = "scale=trunc(iw*0.6/2)*2:trunc(ih*0.6/2)*2,eq=saturation=1.3:contrast=1.1:brightness=0.03"
ATTACKS: dict[str, list[str]] = {
    "crf28": [*FAST, "-crf", "28"],
    "downscale_50": ["-vf", "scale=trunc(iw*0.5/2)*2:trunc(ih*0.5/2)*2", *H264],
    "downscale_33": ["-vf", "scale=trunc(iw*0.67/2)*2:trunc(ih*0.67/2)*2", *H264],
    "crop_10": ["-vf", "crop=trunc(iw*0.9/2)*2:trunc(ih*0.9/2)*2:iw*0.07:ih*0.03", *H264],
    "crop_25": ["-vf", "crop=trunc(iw*0.75/2)*2:trunc(ih*0.75/2)*2:iw*0.2:ih*0.1", *H264],
    "flip": ["-vf", "hflip", *H264],
    "trim_2s": ["-t", "2", *H264],
    "trim_1s": ["-t", "1", *H264],
    "jpeg_frame_q75": ["-vf", "select=eq(n\\,10)", "-frames:v", "1", "-q:v", "8"],
    "social": ["-vf", SOCIAL, "-r", "30", *FAST, "-crf", "30"],
    "social_crop": [
        "-vf",
        f"crop=trunc(iw*0.85/2)*2:trunc(ih*0.85/2)*2:iw*0.1:ih*0.05,{SOCIAL}",
        "-r",
        "30",
        *FAST,
        "-crf",
        "30",
    ],
    "letterbox_9x16": ["-vf", "scale=480:-2,pad=480:854:0:(854-ih)/2", *H264],
    "mirror_crf28": ["-vf", "hflip", *FAST, "-crf", "28"],
    "downscale_50_crop_10": [
        "-vf",
        "crop=trunc(iw*0.9/2)*2:trunc(ih*0.9/2)*2:iw*0.05:ih*0.05,"
        "scale=trunc(iw*0.5/2)*2:trunc(ih*0.5/2)*2",
        *H264,
    ],
}


def clip(index: int, width: int = 832, height: int = 480, frames: int = 33) -> np.ndarray:
    from skimage import data

    image = getattr(data, PHOTOS[index % len(PHOTOS)])()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = image[..., :3].astype(np.float32) / 255
    scale = max(width * 1.3 / image.shape[1], height * 1.3 / image.shape[0])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(index)
    span = np.array([image.shape[1] - width, image.shape[0] - height])
    dx, dy = rng.uniform(-1, 1, 2) * 0.2 * span
    zoom = rng.uniform(-0.08, 0.08)
    out = np.empty((frames, height, width, 3), np.float32)
    for f in range(frames):
        t = f / (frames - 1)
        z = 1 + zoom * t
        cx, cy = image.shape[1] / 2 + dx * t, image.shape[0] / 2 + dy * t
        matrix = np.array([[z, 0, width / 2 - z * cx], [0, z, height / 2 - z * cy]], np.float32)
        out[f] = cv2.warpAffine(
            image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
    return np.clip(out, 0.0, 1.0, out=out)  # cubic resampling overshoots [0, 1]


def attack(source: Path, name: str, folder: Path) -> Path:
    target = folder / (f"{name}.jpg" if name.startswith("jpeg") else f"{name}.mp4")
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", "-i", str(source), *ATTACKS[name], str(target)],
        check=True,
    )
    return target


def fingerprint_search_times(outputs: int = 100_000, frames: int = 9, trials: int = 20) -> float:
    """p95 seconds of one suspect's search (20 query frames) over 100k outputs' PDQ hashes."""
    from provenance.fingerprints import FingerprintIndex

    rng = np.random.default_rng(0)
    index = FingerprintIndex()
    index.hashes = rng.integers(0, 2**63, (outputs * frames, 4), dtype=np.uint64)
    index.owners = np.repeat(np.arange(outputs), frames)
    index.output_ids = [str(i) for i in range(outputs)]
    times = []
    for _ in range(trials):
        queries = [index.hashes[rng.integers(len(index.hashes))].tobytes() for _ in range(20)]
        started = time.perf_counter()
        index.search(queries)
        times.append(time.perf_counter() - started)
    return float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outputs", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from generation.marking.media import read_luma
    from generation.marks import mark_frames, watermarker, watermarkers
    from generation.pipeline.video import encode_video

    settings.WATERMARK_KEY = "bench key, not a deployment's" * 2
    wrong = watermarker()
    settings.WATERMARK_KEY = "bench key, the deployment's one" * 2

    hits: dict[str, list[bool]] = {name: [] for name in ["none", *ATTACKS]}
    psnrs, embed_ms, trace_s, false_ids = [], [], [], 0
    for index in range(args.outputs):
        frames = clip(index)
        clean = np.round(frames * 255)
        started = time.perf_counter()
        frames, mark = mark_frames(frames)
        embed_ms.append((time.perf_counter() - started) * 1000 / len(frames))
        psnrs.append(10 * np.log10(255**2 / np.mean((np.round(frames * 255) - clean) ** 2)))
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            marked, unmarked = folder / "marked.mp4", folder / "clean.mp4"
            encode_video(frames, fps=16, video_path=marked, poster_path=folder / "p.jpg")
            encode_video(clean / 255, fps=16, video_path=unmarked, poster_path=folder / "c.jpg")
            for name in hits:
                suspect = marked if name == "none" else attack(marked, name, folder)
                started = time.perf_counter()
                luma = read_luma(suspect)
                found = next((d for m in watermarkers() if (d := m.detect(luma)) is not None), None)
                trace_s.append(time.perf_counter() - started)
                hits[name].append(found is not None and found.payload == mark.serial)
                false_ids += found is not None and found.payload != mark.serial
            for suspect in (unmarked, attack(unmarked, "social", folder)):
                false_ids += any(m.detect(read_luma(suspect)) for m in watermarkers())
            false_ids += wrong.detect(read_luma(marked)) is not None
        print(f"clip {index}: psnr {psnrs[-1]:.1f} dB", flush=True)

    for name, results in hits.items():
        print(f"{name:22s} exact id {sum(results)}/{len(results)}")
    search_s = fingerprint_search_times()
    print(f"fingerprint search, 100k outputs x 9 frames, 20 query frames: p95 {search_s:.3f} s")
    print(f"trace (read + detect) p50 {np.percentile(trace_s, 50):.3f} s")
    rates = {name: sum(r) / len(r) for name, r in hits.items()}
    print(
        json.dumps(
            {
                "outputs": args.outputs,
                "attacks": len(ATTACKS),
                "exact_id_rate": round(min(rates.values()), 4),
                "exact_id_rate_by_attack": {k: round(v, 3) for k, v in rates.items()},
                "false_ids": int(false_ids),
                "false_id_trials": args.outputs * 3,
                "psnr_db_min": round(float(min(psnrs)), 2),
                "embed_ms_per_frame": round(float(np.median(embed_ms)), 2),
                "trace_p95_s": round(float(np.percentile(trace_s, 95)), 3),
                "trace_p50_s": round(float(np.percentile(trace_s, 50)), 3),
                "fingerprint_search_p95_s_100k": round(search_s, 3),
            }
        )
    )


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DATABASE_URL", "")
    main()
