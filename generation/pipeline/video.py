"""Encode rendered frames into browser-friendly MP4 files and posters, and inspect the result.

Uses the ffmpeg binary bundled with imageio-ffmpeg (no system ffmpeg, no ffprobe) and Pillow.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

CRF = 20  # visually near-lossless for H.264 while keeping short clips small
STDERR_TAIL_CHARS = 2000
# An encode runs outside any task time limit (the worker's encoding stage): a hung ffmpeg is
# killed after this long. x264 takes about 2 s of CPU for 81 frames at 832x480.
ENCODE_TIMEOUT_S = 600.0


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


def encode_video(
    frames: np.ndarray,
    *,
    fps: int,
    video_path: Path,
    poster_path: Path,
    timeout_s: float = ENCODE_TIMEOUT_S,
) -> None:
    """Write ``frames`` as H.264 MP4 plus a poster image: uint8 pixels shaped (F, H, W, 3) as
    they are (what the worker renders), or floats in [0, 1] (converted a frame at a time).

    Both files are written under temporary names in their folders and renamed into place, so a
    reader sees either the complete file or none. An ffmpeg still running after ``timeout_s``
    is killed (the encode runs outside any task time limit).
    """
    pixels = to_uint8(frames)
    with _atomic_path(video_path) as tmp:
        _pipe_to_ffmpeg(_encode_command(pixels.shape, fps, tmp), pixels, timeout_s)
    with _atomic_path(poster_path) as tmp:
        _save_image(pixels[len(pixels) // 2], tmp, poster_path.suffix)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """uint8 frames as they are; float frames in [0, 1] rounded to uint8 one frame at a time, so
    the only float temporary is one frame (a whole-clip ``np.round(np.clip(...) * 255)`` made
    three float32 copies of the clip: 0.5 GB for 33 frames at 832x480)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be shaped (frames, height, width, 3); got {frames.shape}.")
    if frames.dtype != np.uint8 and not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(f"frames must be uint8 pixels or floats in [0, 1]; got {frames.dtype}.")
    _, height, width, _ = frames.shape
    if len(frames) == 0 or height % 2 or width % 2:
        raise ValueError(f"yuv420p needs at least one frame of even size; got {frames.shape}.")
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames)
    pixels = np.empty(frames.shape, dtype=np.uint8)
    scratch = np.empty(frames.shape[1:], dtype=np.float32)
    for source, target in zip(frames, pixels, strict=True):
        np.clip(source, 0.0, 1.0, out=scratch)
        scratch *= 255.0
        np.rint(scratch, out=scratch)  # half to even, as np.round
        target[...] = scratch
    return pixels


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


def _pipe_to_ffmpeg(command: list[str], pixels: np.ndarray, timeout_s: float) -> None:
    """Run ffmpeg on ``pixels`` written to its stdin in one call, straight from the array: no
    ``tobytes()`` copy, and no 4 KB write per select() round as ``subprocess.run(input=...)``
    makes (10,000 to 25,000 rounds for one clip). Its stderr goes to a file, which cannot fill
    up and stall it while it is fed."""
    with tempfile.TemporaryFile() as errors:
        # The executable comes from imageio-ffmpeg and the arguments are built here.
        process = subprocess.Popen(  # noqa: S603
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
        )
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(timeout_s, stop)
        watchdog.start()
        try:
            _feed(process, pixels)
            returncode = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        errors.seek(0)
        stderr = errors.read().decode("utf-8", errors="replace")
    if returncode != 0:
        why = f" (killed after {timeout_s:g} s)" if timed_out.is_set() else ""
        raise VideoEncodingError(
            f"ffmpeg exited with {returncode}{why}: {stderr[-STDERR_TAIL_CHARS:].strip()}"
        )


def _feed(process: subprocess.Popen, pixels: np.ndarray) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(pixels.reshape(-1).data)  # a view: no copy
    except BrokenPipeError:
        pass  # ffmpeg stopped reading: its exit status and stderr say why
    finally:
        with contextlib.suppress(OSError):
            process.stdin.close()


def _run_ffmpeg(command: list[str]) -> str:
    """Run ffmpeg and return its stderr (where it reports everything)."""
    # The executable comes from imageio-ffmpeg and the arguments are built here, not by users.
    result = subprocess.run(  # noqa: S603
        command, stdin=subprocess.DEVNULL, capture_output=True, check=False
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
