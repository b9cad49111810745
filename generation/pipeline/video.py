"""Encode rendered frames into browser-friendly MP4 files and posters, and inspect the result.

Uses the ffmpeg binary bundled with imageio-ffmpeg (no system ffmpeg, no ffprobe) and Pillow.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

CRF = 20  # visually near-lossless for H.264 while keeping short clips small
STDERR_TAIL_CHARS = 2000


class VideoEncodingError(RuntimeError):
    pass


@dataclass(frozen=True)
class VideoProbe:
    codec: str
    pix_fmt: str
    width: int
    height: int
    frames: int
    duration_s: float
    faststart: bool


def encode_video(frames: np.ndarray, *, fps: int, video_path: Path, poster_path: Path) -> None:
    """Write ``frames`` (float in [0, 1], shaped (F, H, W, 3)) as H.264 MP4 plus a poster image.

    Both files are written under temporary names in their folders and renamed into place, so a
    reader sees either the complete file or none.
    """
    pixels = to_uint8(frames)
    with _atomic_path(video_path) as tmp:
        _run_ffmpeg(_encode_command(pixels.shape, fps, tmp), stdin=pixels.tobytes())
    with _atomic_path(poster_path) as tmp:
        _save_image(pixels[len(pixels) // 2], tmp, poster_path.suffix)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be shaped (frames, height, width, 3); got {frames.shape}.")
    if not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(f"frames must be floats in [0, 1]; got {frames.dtype}.")
    _, height, width, _ = frames.shape
    if len(frames) == 0 or height % 2 or width % 2:
        raise ValueError(f"yuv420p needs at least one frame of even size; got {frames.shape}.")
    return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def _encode_command(shape: tuple[int, ...], fps: int, output: Path) -> list[str]:
    _, height, width, _ = shape
    # yuv420p and +faststart (index before data) are what lets browsers start playing at once.
    return [
        imageio_ffmpeg.get_ffmpeg_exe(),
        *("-hide_banner", "-loglevel", "error", "-y"),
        *("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps)),
        *("-i", "pipe:0", "-an"),
        *("-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(CRF), "-preset", "medium"),
        *("-movflags", "+faststart", "-f", "mp4", str(output)),
    ]


def _run_ffmpeg(command: list[str], stdin: bytes | None = None) -> str:
    """Run ffmpeg and return its stderr (where it reports everything)."""
    # The executable comes from imageio-ffmpeg and the arguments are built here, not by users.
    result = subprocess.run(  # noqa: S603
        command,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    stderr = result.stderr.decode("utf-8", errors="replace")
    if result.returncode != 0:
        raise VideoEncodingError(
            f"ffmpeg exited with {result.returncode}: {stderr[-STDERR_TAIL_CHARS:].strip()}"
        )
    return stderr


def _save_image(pixels: np.ndarray, path: Path, suffix: str) -> None:
    image_format = Image.registered_extensions().get(suffix.lower())
    if image_format is None:
        raise ValueError(f"No image format for poster suffix {suffix!r}.")
    Image.fromarray(pixels).save(path, format=image_format, quality=90)


@contextmanager
def _atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it onto ``final`` if the block succeeds."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(
            0o644
        )  # mkstemp's 0600 would hide the file from a web server running as another user
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


# Matches e.g. "Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, progressive), 64x48, ..."
_VIDEO_STREAM = re.compile(
    r"Stream #\S+.*?: Video: (?P<codec>\w+)[^,]*, (?P<pix_fmt>\w+)(?:\([^)]*\))?, "
    r"(?P<width>\d+)x(?P<height>\d+)"
)
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_FRAME_COUNT = re.compile(r"frame=\s*(\d+)")


def probe_video(path: Path | str) -> VideoProbe:
    """Describe the first video stream of ``path``; raise ``VideoEncodingError`` if it has none."""
    path = Path(path)
    # Copying the stream to the null muxer reads every packet, so ffmpeg reports the frame count.
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    report = _run_ffmpeg([*command, "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    stream = _VIDEO_STREAM.search(report)
    if stream is None:
        raise VideoEncodingError(f"No video stream in {path}: {report[-STDERR_TAIL_CHARS:]}")
    frame_counts = _FRAME_COUNT.findall(report)
    return VideoProbe(
        codec=stream["codec"],
        pix_fmt=stream["pix_fmt"],
        width=int(stream["width"]),
        height=int(stream["height"]),
        frames=int(frame_counts[-1]) if frame_counts else 0,
        duration_s=_parse_duration(report),
        faststart=is_faststart(path),
    )


def _parse_duration(report: str) -> float:
    match = _DURATION.search(report)
    if match is None:
        return 0.0
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def is_faststart(path: Path) -> bool:
    """Whether the MP4 index (``moov``) comes before the media data (``mdat``)."""
    atoms = list(top_level_atoms(path))
    return "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat")


def top_level_atoms(path: Path) -> Iterator[str]:
    """Yield the types of the top-level boxes of an MP4 file, in file order."""
    size_of_file = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        while offset + 8 <= size_of_file:
            f.seek(offset)
            header = f.read(8)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:  # a 64-bit size follows the type
                size = int.from_bytes(f.read(8), "big")
            elif size == 0:  # the box runs to the end of the file
                size = size_of_file - offset
            if size < 8:
                return  # corrupt: stop rather than loop forever
            yield kind
            offset += size
