"""Clips for the provenance tests: small (384 x 256, 9 frames) but textured and moving, like the
real outputs the mark is made for."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from generation.pipeline.video import encode_video


def textured_clip(seed: int = 0, *, size: tuple[int, int] = (256, 384), frames: int = 9):
    """Float RGB frames in [0, 1]: smooth random texture panning a few pixels per frame."""
    height, width = size
    rng = np.random.default_rng(seed)
    canvas = rng.random((height + 64, width + 64, 3)).astype(np.float32)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 3.0)
    canvas = (canvas - canvas.min()) / (canvas.max() - canvas.min())
    return np.stack([canvas[2 * f : 2 * f + height, 3 * f : 3 * f + width] for f in range(frames)])


def write_clip(frames: np.ndarray, folder: Path, name: str = "clip.mp4") -> Path:
    video = folder / name
    encode_video(frames.copy(), fps=8, video_path=video, poster_path=folder / f"{name}.jpg")
    return video


@pytest.fixture
def clip_dir(tmp_path) -> Path:
    return tmp_path
