"""Leak-trace robustness: mark realistic clips, attack them, and count exact ids and false ids.

Clips are scikit-image photographs with a slow pan and zoom (832x480, 33 frames, 16 fps), marked
with `generation.marks.mark_frames` (what the worker calls before encoding) and encoded as the
worker encodes (`encode_video`, H.264 CRF 20), and fingerprinted (PDQ) into one index of all the
bench's outputs (PDQ hashes and grid thumbnails). Each output is then attacked with ffmpeg and
the attacked copy traced by `provenance.analysis.read_mark`, the function a trace runs: the blind
read of the frames' mean, the read against the files of the PDQ leads, then of the placed leads
(cropped copies), then the frame-weighted blind read. Clean (unmarked) copies of the same pictures
(the output's encode, a "social" re-upload and a JPEG still of it) and a wrong key measure false
ids.

    .venv/bin/python bench/provenance.py [--outputs N] [--jobs 2] [--attacks a,b] [--strength F,G,M]

Prints the exact ids per attack by the read that found them, then one JSON object (last line).
No database: serials are checked against the serial each clip was given; the lookup a trace adds
is an indexed query. The 7 photographs repeat with other pans and zooms,
so every suspect has look-alike outputs among its leads.
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


def placed_search_times(outputs: int = 100_000, trials: int = 10) -> float:
    """p95 seconds of one cropped suspect's thumbnail search over 100k 832 x 480 outputs with 5
    thumbnails each (the suspect: 5 thumbnails of a 15 % crop, 12 x 22 blocks)."""
    from provenance.thumbnails import ThumbnailIndex

    rng = np.random.default_rng(0)
    index = ThumbnailIndex()
    thumbs = rng.integers(0, 256, (outputs, 5, 15, 26), dtype=np.uint8)
    for i in range(outputs):
        index.add(str(i), thumbs[i])
    index.search([thumbs[0, 0].astype(np.float32)], (0, 0), 192)  # joins what was loaded, once
    times = []
    for _ in range(trials):
        pick = int(rng.integers(outputs))
        queries = [t[2:14, 3:25].astype(np.float32) for t in thumbs[pick]]
        started = time.perf_counter()
        index.search(queries, (2, 3), 192)
        times.append(time.perf_counter() - started)
    return float(np.percentile(times, 95))


# Set in each worker process by `_setup`.
_STATE: dict = {}
READ_AGAINST_LEADS = 3  # what provenance.analysis.INFORMED_LEADS reads


def _setup(
    index_rows: list[tuple[str, list[bytes], np.ndarray]] | None = None,
    strength: tuple[float, float, float] | None = None,
) -> None:
    import django

    django.setup()
    from django.conf import settings

    if strength is not None:  # --strength: what another strength would give (embed and read)
        from generation.marking import tile

        tile.STRENGTH_FLAT, tile.STRENGTH_GAIN, tile.STRENGTH_MAX = strength

    from generation.marks import watermarker

    settings.WATERMARK_KEY = "bench key, not a deployment's" * 2
    _STATE["wrong"] = watermarker()
    settings.WATERMARK_KEY = "bench key, the deployment's one" * 2
    if index_rows is not None:
        from provenance.fingerprints import FingerprintIndex

        index = FingerprintIndex()
        for output_id, hashes, thumbnails in index_rows:
            index.add(output_id, hashes)
            index.thumbnails.add(output_id, thumbnails)
        _STATE["index"] = index


def _render(job: tuple[int, str]) -> dict:
    """Pass 1: one output marked through the worker's path, encoded, and fingerprinted."""
    from generation.marks import mark_frames
    from generation.pipeline.video import encode_video
    from provenance.fingerprints import frame_hashes
    from provenance.thumbnails import output_thumbnails

    index, root = job
    folder = Path(root) / str(index)
    folder.mkdir()
    frames = clip(index)
    clean = np.round(frames * 255)
    started = time.perf_counter()
    frames, mark = mark_frames(frames)
    embed_ms = (time.perf_counter() - started) * 1000 / len(frames)
    psnr = 10 * np.log10(255**2 / np.mean((np.round(frames * 255) - clean) ** 2))
    ssim = min(_luma_ssim(m, c) for m, c in zip(np.round(frames * 255), clean, strict=True))
    marked, unmarked = folder / "marked.mp4", folder / "clean.mp4"
    encode_video(frames, fps=16, video_path=marked, poster_path=folder / "p.jpg")
    encode_video(clean / 255, fps=16, video_path=unmarked, poster_path=folder / "c.jpg")
    hashes = [digest for _, digest, _ in frame_hashes(marked)]
    return {
        "index": index,
        "serial": mark.serial,
        "embed_ms": embed_ms,
        "psnr": psnr,
        "ssim": ssim,
        "hashes": hashes,
        "thumbnails": output_thumbnails(marked),
    }


def _luma_ssim(marked: np.ndarray, clean: np.ndarray) -> float:
    """SSIM of two RGB frames (0-255) on their luma, where the mark is."""
    from skimage.metrics import structural_similarity

    luma = [cv2.cvtColor(f.astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in (marked, clean)]
    return float(structural_similarity(luma[0], luma[1], data_range=255))


def _trace(path: Path, serials: dict[str, int], root: str) -> tuple[object, str, float]:
    """What `provenance.analysis.analyse` does with a suspect (`read_mark`, the same function),
    without the database. Returns the detection (or None), which read found it and the seconds
    from reading the file to the answer."""
    from generation.marking.media import read_luma
    from generation.marks import Reference, watermarkers
    from provenance.analysis import read_mark

    marker = watermarkers()[0]

    def references(output_ids: list[str]) -> list[Reference]:
        return [
            Reference(Path(root) / i / "marked.mp4", serials[i], marker.name, marker.key_version)
            for i in output_ids
        ]

    started = time.perf_counter()
    reading = read_mark(read_luma(path), path, index=_STATE["index"], references=references)
    return reading.detection, reading.how, time.perf_counter() - started


def _attack_all(job: tuple[int, dict[str, int], str, list[str]]) -> dict:
    """Pass 2: every attack on one output, traced; clean copies and a wrong key for false ids."""
    from generation.marking.media import read_luma
    from generation.marks import Reference, detect_informed

    index, serials, root, attacks = job
    folder = Path(root) / str(index)
    serial = serials[str(index)]
    result: dict = {"hits": {}, "how": {}, "trace_s": []}
    result["false_ids"], result["clean_s"] = 0, []
    with tempfile.TemporaryDirectory() as scratch:
        for name in ["none", *attacks]:
            marked = folder / "marked.mp4"
            suspect = marked if name == "none" else attack(marked, name, Path(scratch))
            found, how, seconds = _trace(suspect, serials, root)
            result["trace_s"].append(seconds)
            result["hits"][name] = found is not None and found.payload == serial
            result["how"][name] = how if result["hits"][name] else ""
            result["false_ids"] += found is not None and found.payload != serial
        clean = folder / "clean.mp4"
        clean_copies = (clean, attack(clean, "social", Path(scratch)))
        for suspect in clean_copies:
            found, _, seconds = _trace(suspect, serials, root)
            result["false_ids"] += found is not None  # the same picture, never marked
            result["clean_s"].append(seconds)
        # A still of it, read on the frame of each lead it shows (`registration.shown_frame`).
        found, _, result["clean_still_s"] = _trace(
            attack(clean, "jpeg_frame_q75", Path(scratch)), serials, root
        )
        result["false_ids"] += found is not None
        wrong = _STATE["wrong"]
        result["false_ids"] += wrong.detect(read_luma(folder / "marked.mp4")) is not None
        result["false_ids"] += wrong.detect(read_luma(folder / "clean.mp4")) is not None
        reference = Reference(folder / "marked.mp4", serial, wrong.name, wrong.key_version)
        social = read_luma(attack(folder / "marked.mp4", "social", Path(scratch)))
        with _wrong_key():
            result["false_ids"] += detect_informed(social, [reference]) is not None
    print(f"clip {index}: " + " ".join(k for k, v in result["hits"].items() if not v), flush=True)
    return result


class _wrong_key:
    """The deployment's key swapped for another one (what a trace with the wrong key reads)."""

    def __enter__(self) -> None:
        from django.conf import settings

        self.key = settings.WATERMARK_KEY
        settings.WATERMARK_KEY = "bench key, not a deployment's" * 2

    def __exit__(self, *exc: object) -> None:
        from django.conf import settings

        settings.WATERMARK_KEY = self.key


def main() -> None:
    import multiprocessing

    from generation.marking.tile import STRENGTH_FLAT, STRENGTH_GAIN, STRENGTH_MAX

    parser = argparse.ArgumentParser()
    parser.add_argument("--outputs", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2 cores here)")
    parser.add_argument(
        "--attacks",
        type=lambda text: text.split(","),
        default=list(ATTACKS),
        help="a comma-separated subset of the attacks (default: all 14)",
    )
    parser.add_argument(
        "--strength",
        type=lambda text: tuple(float(v) for v in text.split(",")),
        help="FLAT,GAIN,MAX luma levels instead of generation.marking.tile's (a trade-off study)",
    )
    args = parser.parse_args()
    if args.strength is not None and len(args.strength) != 3:
        parser.error("--strength takes three numbers: FLAT,GAIN,MAX")
    unknown = sorted(set(args.attacks) - set(ATTACKS))
    if unknown:
        parser.error(f"unknown attacks: {', '.join(unknown)} (known: {', '.join(ATTACKS)})")

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as root:
        with context.Pool(args.jobs, initializer=_setup, initargs=(None, args.strength)) as pool:
            rendered = pool.map(_render, [(i, root) for i in range(args.outputs)])
        for row in rendered:
            print(
                f"clip {row['index']}: psnr {row['psnr']:.1f} dB, ssim {row['ssim']:.4f}",
                flush=True,
            )
        serials = {str(row["index"]): row["serial"] for row in rendered}
        rows = [(str(row["index"]), row["hashes"], row["thumbnails"]) for row in rendered]
        with context.Pool(args.jobs, initializer=_setup, initargs=(rows, args.strength)) as pool:
            jobs = [(i, serials, root, args.attacks) for i in range(args.outputs)]
            results = pool.map(_attack_all, jobs)

    names = ["none", *args.attacks]
    hits = {name: [r["hits"][name] for r in results] for name in names}
    found_by = {name: [r["how"][name] for r in results] for name in names}
    clean_s = [t for r in results for t in r["clean_s"]]
    clean_still_s = [r["clean_still_s"] for r in results]
    trace_s = [t for r in results for t in r["trace_s"]]
    false_ids = sum(r["false_ids"] for r in results)
    psnrs = [row["psnr"] for row in rendered]
    ssims = [row["ssim"] for row in rendered]
    reads = ["mean", "leads", "placed", "weighted"]
    print("exact ids by the read that found them (in the order a trace runs them):")
    print(
        f"{'attack':22s} {'mean':>9s} {'PDQ leads':>9s} {'placed':>9s} {'weighted':>9s} {'all':>9s}"
    )
    for name in names:
        n = len(hits[name])
        counts = " ".join(f"{found_by[name].count(read):>5d}/{n:<3d}" for read in reads)
        print(f"{name:22s} {counts} {sum(hits[name]):>5d}/{n}")
    print(
        f"marked vs unmarked: PSNR min {min(psnrs):.2f} dB, median {np.median(psnrs):.2f} dB;"
        f" luma SSIM (each clip's worst frame) min {min(ssims):.4f}, median {np.median(ssims):.4f};"
        f" false ids {false_ids} in {args.outputs * 6} trials"
    )
    search_s = fingerprint_search_times()
    print(f"fingerprint search, 100k outputs x 9 frames, 20 query frames: p95 {search_s:.3f} s")
    placed_s = placed_search_times()
    print(f"placed-lead search, 100k outputs x 5 thumbnails, 5 query frames: p95 {placed_s:.3f} s")
    print(
        "trace of marked copies (decode, then every read until one verifies) p50"
        f" {np.percentile(trace_s, 50):.3f} s, p95 {np.percentile(trace_s, 95):.3f} s;"
        " unmarked copies of outputs (every read) p50"
        f" {np.percentile(clean_s, 50):.3f} s, p95 {np.percentile(clean_s, 95):.3f} s;"
        " unmarked stills of outputs p50"
        f" {np.percentile(clean_still_s, 50):.3f} s, p95 {np.percentile(clean_still_s, 95):.3f} s"
    )
    rates = {name: sum(r) / len(r) for name, r in hits.items()}
    blind_rates = {name: r.count("mean") / len(r) for name, r in found_by.items()}
    print(
        json.dumps(
            {
                "outputs": args.outputs,
                "strength": list(args.strength or (STRENGTH_FLAT, STRENGTH_GAIN, STRENGTH_MAX)),
                "attacks": len(args.attacks),
                "exact_id_rate": round(min(rates.values()), 4),
                "exact_id_rate_by_attack": {k: round(v, 3) for k, v in rates.items()},
                "mean_read_exact_id_rate_by_attack": {
                    k: round(v, 3) for k, v in blind_rates.items()
                },
                "false_ids": int(false_ids),
                "false_id_trials": args.outputs * 6,
                "psnr_db_min": round(float(min(psnrs)), 2),
                "ssim_min": round(float(min(ssims)), 4),
                "embed_ms_per_frame": round(float(np.median([r["embed_ms"] for r in rendered])), 2),
                "trace_p95_s": round(float(np.percentile(trace_s, 95)), 3),
                "trace_p50_s": round(float(np.percentile(trace_s, 50)), 3),
                "unmarked_trace_p95_s": round(float(np.percentile(clean_s, 95)), 3),
                "unmarked_still_trace_p95_s": round(float(np.percentile(clean_still_s, 95)), 3),
                "fingerprint_search_p95_s_100k": round(search_s, 3),
                "placed_search_p95_s_100k": round(placed_s, 3),
            }
        )
    )


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DATABASE_URL", "")
    main()
