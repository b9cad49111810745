"""Leak-trace robustness: mark realistic clips, attack them, and count exact ids and false ids.

Clips are scikit-image photographs with a slow pan and zoom (832x480, 33 frames, 16 fps), marked
with `generation.marks.mark_frames` (what the worker calls before encoding) and encoded as the
worker encodes (`encode_video`, H.264 CRF 20), and fingerprinted (PDQ) into one index of all the
bench's outputs. Each output is then attacked with ffmpeg and the attacked copy traced as
`provenance.analysis` traces it: the blind read with every configured key, then the fingerprint
leads, then the read against the best leads' delivered files (informed detection). Clean
(unmarked) copies of the same pictures and a wrong key measure false ids.

    .venv/bin/python bench/provenance.py [--outputs N] [--jobs 2]

Prints the exact ids per attack (the blind read alone, and with the reads against leads), then one
JSON object (last line). No database: serials are checked against the serial each clip was given;
the lookup a trace adds is an indexed query. The 7 photographs repeat with other pans and zooms,
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


# Set in each worker process by `_setup`.
_STATE: dict = {}
READ_AGAINST_LEADS = 3  # what provenance.analysis.INFORMED_LEADS reads


def _setup(index_hashes: list[tuple[str, list[bytes]]] | None = None) -> None:
    import django

    django.setup()
    from django.conf import settings

    from generation.marks import watermarker

    settings.WATERMARK_KEY = "bench key, not a deployment's" * 2
    _STATE["wrong"] = watermarker()
    settings.WATERMARK_KEY = "bench key, the deployment's one" * 2
    if index_hashes is not None:
        from provenance.fingerprints import FingerprintIndex

        index = FingerprintIndex()
        for output_id, hashes in index_hashes:
            index.add(output_id, hashes)
        _STATE["index"] = index


def _render(job: tuple[int, str]) -> dict:
    """Pass 1: one output marked through the worker's path, encoded, and fingerprinted."""
    from generation.marks import mark_frames
    from generation.pipeline.video import encode_video
    from provenance.fingerprints import frame_hashes

    index, root = job
    folder = Path(root) / str(index)
    folder.mkdir()
    frames = clip(index)
    clean = np.round(frames * 255)
    started = time.perf_counter()
    frames, mark = mark_frames(frames)
    embed_ms = (time.perf_counter() - started) * 1000 / len(frames)
    psnr = 10 * np.log10(255**2 / np.mean((np.round(frames * 255) - clean) ** 2))
    marked, unmarked = folder / "marked.mp4", folder / "clean.mp4"
    encode_video(frames, fps=16, video_path=marked, poster_path=folder / "p.jpg")
    encode_video(clean / 255, fps=16, video_path=unmarked, poster_path=folder / "c.jpg")
    hashes = [digest for _, digest, _ in frame_hashes(marked)]
    return {
        "index": index,
        "serial": mark.serial,
        "embed_ms": embed_ms,
        "psnr": psnr,
        "hashes": hashes,
    }


def _trace(path: Path, serials: dict[str, int], root: str) -> tuple[object, str, float, float]:
    """What `provenance.analysis.analyse` does with a suspect, without the database: the blind
    read of the frames' mean, the fingerprint leads, the read against the best leads' files, and
    the frame-weighted blind read. Returns the detection (or None), how it was found, the whole
    trace's seconds and the seconds of the read of the mean."""
    from generation.marking.media import read_luma
    from generation.marks import Reference, detect_informed, watermarkers
    from provenance.fingerprints import frame_hashes

    started = time.perf_counter()
    luma = read_luma(path)
    found = next((d for m in watermarkers() if (d := m.detect_mean(luma)) is not None), None)
    blind_s = time.perf_counter() - started
    how = "blind" if found is not None else ""
    if found is None:
        leads = _STATE["index"].search([digest for _, digest, _ in frame_hashes(path)])
        marker = watermarkers()[0]
        references = [
            Reference(
                Path(root) / lead.output_id / "marked.mp4",
                serials[lead.output_id],
                marker.name,
                marker.key_version,
            )
            for lead in leads[:READ_AGAINST_LEADS]
        ]
        informed = detect_informed(luma, references)
        if informed is not None:
            found, how = informed[0], "informed"
        else:
            found = next(
                (d for m in watermarkers() if (d := m.detect_weighted(luma)) is not None), None
            )
            how = "weighted" if found is not None else ""
    else:
        frame_hashes(path)  # a trace always computes the leads it reports
    return found, how, time.perf_counter() - started, blind_s


def _attack_all(job: tuple[int, dict[str, int], str]) -> dict:
    """Pass 2: every attack on one output, traced; clean copies and a wrong key for false ids."""
    from generation.marking.media import read_luma
    from generation.marks import Reference, detect_informed

    index, serials, root = job
    folder = Path(root) / str(index)
    serial = serials[str(index)]
    result: dict = {"hits": {}, "blind": {}, "weighted": {}, "trace_s": [], "blind_s": []}
    result["false_ids"], result["clean_s"] = 0, []
    with tempfile.TemporaryDirectory() as scratch:
        for name in ["none", *ATTACKS]:
            marked = folder / "marked.mp4"
            suspect = marked if name == "none" else attack(marked, name, Path(scratch))
            found, how, seconds, blind_s = _trace(suspect, serials, root)
            result["trace_s"].append(seconds)
            result["blind_s"].append(blind_s)
            result["hits"][name] = found is not None and found.payload == serial
            result["blind"][name] = how == "blind" and found.payload == serial
            result["weighted"][name] = how == "weighted" and found.payload == serial
            result["false_ids"] += found is not None and found.payload != serial
        clean = folder / "clean.mp4"
        for suspect in (clean, attack(clean, "social", Path(scratch))):
            found, _, seconds, _ = _trace(suspect, serials, root)
            result["false_ids"] += found is not None  # the same picture, never marked
            result["clean_s"].append(seconds)
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

    parser = argparse.ArgumentParser()
    parser.add_argument("--outputs", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2 cores here)")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as root:
        with context.Pool(args.jobs, initializer=_setup) as pool:
            rendered = pool.map(_render, [(i, root) for i in range(args.outputs)])
        for row in rendered:
            print(f"clip {row['index']}: psnr {row['psnr']:.1f} dB", flush=True)
        serials = {str(row["index"]): row["serial"] for row in rendered}
        hashes = [(str(row["index"]), row["hashes"]) for row in rendered]
        with context.Pool(args.jobs, initializer=_setup, initargs=(hashes,)) as pool:
            results = pool.map(_attack_all, [(i, serials, root) for i in range(args.outputs)])

    names = ["none", *ATTACKS]
    hits = {name: [r["hits"][name] for r in results] for name in names}
    blind = {name: [r["blind"][name] for r in results] for name in names}
    weighted = {name: [r["weighted"][name] for r in results] for name in names}
    clean_s = [t for r in results for t in r["clean_s"]]
    trace_s = [t for r in results for t in r["trace_s"]]
    blind_s = [t for r in results for t in r["blind_s"]]
    false_ids = sum(r["false_ids"] for r in results)
    psnrs = [row["psnr"] for row in rendered]
    print(f"{'attack':22s} {'mean read':>10s} {'against leads':>14s} {'weighted':>9s} {'all':>8s}")
    for name in names:
        n, read = len(hits[name]), sum(blind[name])
        extra = sum(weighted[name])
        informed = sum(hits[name]) - read - extra
        print(
            f"{name:22s} {read:>6d}/{n:<3d} {informed:>10d}/{n:<3d} {extra:>5d}/{n:<3d}"
            f" {sum(hits[name]):>4d}/{n}"
        )
    search_s = fingerprint_search_times()
    print(f"fingerprint search, 100k outputs x 9 frames, 20 query frames: p95 {search_s:.3f} s")
    print(
        "trace (read, mean read, leads, reads against leads, weighted read) p50"
        f" {np.percentile(trace_s, 50):.3f} s, p95 {np.percentile(trace_s, 95):.3f} s;"
        " the mean read alone p95"
        f" {np.percentile(blind_s, 95):.3f} s; unmarked copies of outputs p50"
        f" {np.percentile(clean_s, 50):.3f} s, p95 {np.percentile(clean_s, 95):.3f} s"
    )
    rates = {name: sum(r) / len(r) for name, r in hits.items()}
    blind_rates = {name: sum(r) / len(r) for name, r in blind.items()}
    print(
        json.dumps(
            {
                "outputs": args.outputs,
                "attacks": len(ATTACKS),
                "exact_id_rate": round(min(rates.values()), 4),
                "exact_id_rate_by_attack": {k: round(v, 3) for k, v in rates.items()},
                "mean_read_exact_id_rate_by_attack": {
                    k: round(v, 3) for k, v in blind_rates.items()
                },
                "false_ids": int(false_ids),
                "false_id_trials": args.outputs * 5,
                "psnr_db_min": round(float(min(psnrs)), 2),
                "embed_ms_per_frame": round(float(np.median([r["embed_ms"] for r in rendered])), 2),
                "trace_p95_s": round(float(np.percentile(trace_s, 95)), 3),
                "trace_p50_s": round(float(np.percentile(trace_s, 50)), 3),
                "mean_read_p95_s": round(float(np.percentile(blind_s, 95)), 3),
                "unmarked_trace_p95_s": round(float(np.percentile(clean_s, 95)), 3),
                "fingerprint_search_p95_s_100k": round(search_s, 3),
            }
        )
    )


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DATABASE_URL", "")
    main()
