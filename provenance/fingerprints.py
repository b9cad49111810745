"""PDQ fingerprints of outputs, and the search that turns a suspect file into leads.

A fingerprint is PDQ (Meta's perceptual hash, 256 bits) of a frame every 0.25 s, skipping frames
whose PDQ quality is under 50 (flat frames hash alike). A suspect frame within `MATCH_DISTANCE`
bits of an output's frame makes that output a *lead*: PDQ survives re-encoding and rescaling but
not heavy crops, and near-identical outputs (same prompt, new seed) collide. Leads are never proof;
the watermark is.

The index lives in memory per process (all hashes as one uint64 array; Hamming distance by XOR and
popcount), loaded from `OutputFingerprint` rows and topped up with newer rows before each search;
the same rows' grid thumbnails (`provenance.thumbnails`, the leads for cropped copies) load with it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pdqhash

from generation.marking.tile import picture_bounds
from provenance.thumbnails import ThumbnailIndex

SAMPLE_FPS = 4  # one frame every 0.25 s
MIN_QUALITY = 50
MATCH_DISTANCE = 31  # of 256 bits: PDQ's own suggested threshold
MAX_SUSPECT_FRAMES = 120
WORDS = 4  # 256 bits as four uint64
MIN_PICTURE = 64  # px a side: less, inside bars, and the frame is hashed whole


def frame_hashes(path: Path | str) -> list[tuple[float, bytes, int]]:
    """(seconds, 32-byte PDQ hash, quality) of frames every 0.25 s of a video (or of an image).
    Uniform bars are cut off first: PDQ hashes the whole frame, and a copy letterboxed to 9:16
    for a phone is half bars, which alone would put it out of reach of its output's hash."""
    found, decoded = _hashes(path, ["-vf", f"fps={SAMPLE_FPS}"], MAX_SUSPECT_FRAMES)
    if decoded:
        return found
    # A still image (a screenshot, a JPEG) has no frame rate for the fps filter to sample at, and
    # it yields no frame at all: read its one frame as it is.
    return _hashes(path, [], 1)[0]


def _hashes(
    path: Path | str, output_params: list[str], limit: int
) -> tuple[list[tuple[float, bytes, int]], int]:
    """The hashes of up to `limit` frames ffmpeg gives with `output_params`, and how many frames
    it gave."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=output_params)
    meta = reader.__next__()
    width, height = meta["size"]
    found, decoded = [], 0
    try:
        for index, raw in enumerate(reader):
            if index >= limit:
                break
            decoded += 1
            frame = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
            bits, quality = pdqhash.compute(_without_bars(frame))
            if quality >= MIN_QUALITY:
                found.append(
                    (index / SAMPLE_FPS, np.packbits(bits.astype(np.uint8)).tobytes(), quality)
                )
    finally:
        reader.close()
    return found, decoded


def _without_bars(frame: np.ndarray) -> np.ndarray:
    """`frame` (RGB) inside its letterbox or pillarbox bars; whole if what is left is too small
    to hash (under `MIN_PICTURE` px a side: a frame that is all but flat)."""
    rows, cols = picture_bounds(frame.mean(axis=2, dtype=np.float32))
    picture = frame[rows, cols]
    return np.ascontiguousarray(picture) if min(picture.shape[:2]) >= MIN_PICTURE else frame


def pack(hashes: list[bytes]) -> np.ndarray:
    """32-byte hashes -> (n, 4) uint64 for XOR + popcount."""
    if not hashes:
        return np.zeros((0, WORDS), dtype=np.uint64)
    return np.frombuffer(b"".join(hashes), dtype=np.uint64).reshape(-1, WORDS)


@dataclass
class Lead:
    output_id: str
    distance: int  # the closest frame pair, in bits
    frames_matched: int  # suspect frames with a match in this output

    def measures(self) -> dict[str, object]:
        return {"distance": self.distance, "frames_matched": self.frames_matched}


@dataclass
class FingerprintIndex:
    """Every indexed frame hash, and which output each belongs to."""

    hashes: np.ndarray = field(default_factory=lambda: np.zeros((0, WORDS), dtype=np.uint64))
    owners: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    output_ids: list[str] = field(default_factory=list)
    last_row: int = 0
    last_output: str = ""
    rows: int = 0  # fingerprint rows loaded (one per output, hashes or not)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thumbnails: ThumbnailIndex = field(default_factory=ThumbnailIndex)
    _columns: np.ndarray | None = None
    _pending: list[tuple[np.ndarray, int]] = field(default_factory=list)

    def reset(self) -> None:
        self.hashes = np.zeros((0, WORDS), dtype=np.uint64)
        self.owners = np.zeros(0, dtype=np.int64)
        self.output_ids, self.last_row, self.last_output, self.rows = [], 0, "", 0
        self.thumbnails = ThumbnailIndex()
        self._columns, self._pending = None, []

    def add(self, output_id: str, hashes: list[bytes]) -> None:
        """Queue an output's hashes; they join the arrays at the next search (joining one output
        at a time copied the whole index for each: minutes for 100,000 outputs)."""
        if not hashes:
            return
        self.output_ids.append(output_id)
        self._pending.append((pack(hashes), len(self.output_ids) - 1))

    def _merge(self) -> None:
        if not self._pending:
            return
        self.hashes = np.concatenate([self.hashes, *(h for h, _ in self._pending)])
        owners = (np.full(len(h), o, dtype=np.int64) for h, o in self._pending)
        self.owners = np.concatenate([self.owners, *owners])
        self._columns, self._pending = None, []  # the transposed copy `search` keeps is stale

    def search(self, queries: list[bytes], limit: int = 10) -> list[Lead]:
        """Outputs with a frame within MATCH_DISTANCE of any query frame, best first."""
        self._merge()
        if not queries or len(self.hashes) == 0:
            return []
        if self._columns is None:
            self._columns = np.ascontiguousarray(self.hashes.T)  # one word of every hash a row
        columns = self._columns
        best: dict[int, list[int]] = {}
        for query in pack(queries):
            distances = np.zeros(columns.shape[1], dtype=np.uint16)
            for word in range(WORDS):
                distances += np.bitwise_count(columns[word] ^ query[word])
            close = np.flatnonzero(distances <= MATCH_DISTANCE)
            per_output: dict[int, int] = {}
            for row in close:
                owner = int(self.owners[row])
                per_output[owner] = min(per_output.get(owner, 256), int(distances[row]))
            for owner, distance in per_output.items():
                entry = best.setdefault(owner, [256, 0])
                entry[0], entry[1] = min(entry[0], distance), entry[1] + 1
        leads = [Lead(self.output_ids[o], d, n) for o, (d, n) in best.items()]
        leads.sort(key=lambda lead: (-lead.frames_matched, lead.distance))
        return leads[:limit]
