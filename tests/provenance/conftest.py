"""Clips for the provenance tests: small (384 x 256, 9 frames) but photographic and moving, like
the real outputs the mark is made for."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import call_command
from skimage import data

from generation.pipeline.video import encode_video


def textured_clip(seed: int = 0, *, size: tuple[int, int] = (256, 384), frames: int = 9):
    """Float RGB frames in [0, 1]: a photograph (scikit-image's), panning a few pixels a frame."""
    height, width = size
    photo = [data.astronaut, data.coffee, data.chelsea, data.rocket][seed % 4]()
    canvas = cv2.resize(photo, (width + 64, height + 64), interpolation=cv2.INTER_AREA)
    canvas = canvas.astype(np.float32) / 255.0
    dx, dy = (2, 3) if seed % 2 else (3, -2)
    start_y = 32 if dy < 0 else 0
    return np.stack(
        [
            canvas[start_y + dy * f : start_y + dy * f + height, dx * f : dx * f + width]
            for f in range(frames)
        ]
    )


def write_clip(frames: np.ndarray, folder: Path, name: str = "clip.mp4") -> Path:
    video = folder / name
    encode_video(frames.copy(), fps=8, video_path=video, poster_path=folder / f"{name}.jpg")
    return video


@pytest.fixture
def clip_dir(tmp_path) -> Path:
    return tmp_path


def trace_command(path: Path) -> dict:
    """`manage.py trace FILE`: the one JSON line it prints, parsed."""
    out = StringIO()
    call_command("trace", str(path), stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])
