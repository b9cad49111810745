"""Reading a suspect file's luma (video or still image) with the bundled ffmpeg."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np

# Averaging more frames than this buys nothing measurable and costs decode time.
MAX_FRAMES = 96


class UnreadableMedia(ValueError):
    """The file has no picture ffmpeg can decode."""


def read_luma(path: Path | str, *, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Luma frames (F, H, W) as float32 0-255, at most `max_frames` spread over the clip."""
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="gray", bits_per_pixel=8)
        meta = reader.__next__()
        width, height = meta["size"]
        kept: list[np.ndarray] = []
        for raw in reader:
            kept.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width))
            if len(kept) >= 2 * max_frames:
                kept = kept[::2]  # keep an even spread of a long clip in bounded memory
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as exc:
        raise UnreadableMedia(f"No decodable picture: {str(exc).strip()[:200]}") from exc
    if not kept:
        raise UnreadableMedia("No decodable picture: the file has no frames.")
    step = max(1, len(kept) // max_frames)
    return np.stack(kept[::step][:max_frames]).astype(np.float32)


def read_rgb(path: Path | str) -> tuple[np.ndarray, float]:
    """Every frame of a video as float32 RGB in [0, 1] (F, H, W, 3), and its frame rate."""
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = reader.__next__()
        width, height = meta["size"]
        frames = [np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3) for raw in reader]
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as exc:
        raise UnreadableMedia(f"No decodable picture: {str(exc).strip()[:200]}") from exc
    if not frames:
        raise UnreadableMedia("No decodable picture: the file has no frames.")
    return np.stack(frames).astype(np.float32) / 255.0, float(meta.get("fps") or 16)
