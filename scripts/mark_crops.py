"""Side-by-side 1:1 crops of marked and unmarked frames, for docs/provenance.md.

For three of the bench's clips (832 x 480, `bench/provenance.py`'s `clip`), frame 0 is marked as
the worker marks it (`generation.marks.mark_frames`) and a 256 px crop is written as one PNG:
unmarked, marked, and the difference x 10 around mid-grey. Prints each frame's PSNR.

    .venv/bin/python scripts/mark_crops.py [--out docs/provenance]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# (clip index in the bench, name, top-left corner of the crop as (y, x))
CROPS = [
    (0, "astronaut", (40, 300)),
    (1, "coffee", (150, 420)),
    (5, "immunohistochemistry", (100, 300)),
]
SIZE = 256


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_provenance", ROOT / "bench" / "provenance.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "provenance")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from generation.marks import mark_frames

    bench = _bench()
    for index, name, (y, x) in CROPS:
        frames = bench.clip(index, frames=2)[:1]
        clean = np.round(frames[0] * 255)
        marked, _ = mark_frames(frames.copy())
        marked_8 = np.round(marked[0] * 255)
        psnr = 10 * np.log10(255**2 / np.mean((marked_8 - clean) ** 2))
        difference = np.clip(128 + 10 * (marked_8 - clean), 0, 255)
        window = (slice(y, y + SIZE), slice(x, x + SIZE))
        gap = np.full((SIZE, 8, 3), 255.0)
        panel = np.concatenate(
            [clean[window], gap, marked_8[window], gap, difference[window]], axis=1
        )
        path = args.out / f"crop-{name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(panel.astype(np.uint8), cv2.COLOR_RGB2BGR))
        print(f"{path}: frame PSNR {psnr:.2f} dB")


if __name__ == "__main__":
    main()
