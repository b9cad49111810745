"""Grid thumbnails of outputs, and the search that finds the output a *cropped* copy was cut from.

PDQ hashes the whole frame, so a copy cropped by even 10 % hashes like another picture and finds
no lead (docs/provenance.md). A cropped copy of a marked output still shows the watermark's sync,
which places it on the grid the mark was embedded on (`generation.marks.locate`): its scale, a
mirror, and where its pixels sat modulo the watermark's 192 px period. On that grid, both the
output and the suspect can be cut into the same blocks: an output is stored as the mean luma of
`BLOCK` x `BLOCK` px blocks of a frame every `EVERY_S` seconds (a 832 x 480 output: 26 x 15 bytes a
frame), and a placed suspect, brought to the output's scale, is cut at the same block boundaries.
Only block offsets that agree with the placement modulo the period are compared (for a modest crop,
one or two), by Pearson correlation (contrast and brightness changes drop out). A lead is an
output whose best-matching thumbnails correlate on average at least `MIN_SCORE` with the suspect's:
never proof. Near-identical outputs match too; the watermark read against each lead decides.

In memory: one uint8 array per thumbnail size (100,000 outputs of 832 x 480 with 5 thumbnails are
about 195 MB); the search is a matrix product per block offset, in chunks (measured at 100,000
outputs by `bench/provenance.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from generation.marking.base import Placement

BLOCK = 32  # px of the output as embedded (the watermark's 192 px period is 6 blocks)
EVERY_S = 0.5
MAX_FRAMES = 6
# A wrongly placed suspect scored up to 0.77 on the bench's clips; placed right, 0.99.
MIN_SCORE = 0.8
MIN_BLOCKS = 3  # a suspect fewer blocks high or wide (at the output's scale) is not searched
CHUNK = 8192  # thumbnails compared at once (bounds the temporaries)


def _frames(path: Path | str) -> list[np.ndarray]:
    """Luma frames (uint8) at 0, EVERY_S, 2 * EVERY_S ... seconds, at most MAX_FRAMES: the
    frame of each instant itself (ffmpeg's fps filter picks one a frame later at 8 fps)."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="gray", bits_per_pixel=8)
    meta = reader.__next__()
    width, height = meta["size"]
    fps = float(meta.get("fps") or 0) or 1 / EVERY_S  # a still image: one frame
    frames: list[np.ndarray] = []
    for index, raw in enumerate(reader):
        if index == round(len(frames) * EVERY_S * fps):
            frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width))
            if len(frames) == MAX_FRAMES:
                break
    reader.close()
    return frames


def _blocks(image: np.ndarray) -> np.ndarray:
    """Mean of each whole BLOCK x BLOCK block, from the top-left corner."""
    rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols), dtype=np.float32)
    cut = np.ascontiguousarray(image[: rows * BLOCK, : cols * BLOCK], dtype=np.float32)
    return cv2.resize(cut, (cols, rows), interpolation=cv2.INTER_AREA)


def output_thumbnails(path: Path | str) -> np.ndarray:
    """An output's grid thumbnails (frames, rows, cols), uint8, from its delivered file: the
    delivered file is at the size the mark was embedded at, its grid starting at pixel (0, 0)."""
    frames = _frames(path)
    if not frames:
        return np.zeros((0, 0, 0), dtype=np.uint8)
    return np.stack([np.rint(_blocks(frame)).astype(np.uint8) for frame in frames])


def suspect_thumbnails(
    path: Path | str, placement: Placement
) -> tuple[list[np.ndarray], tuple[int, int]]:
    """A placed suspect's thumbnails on the output's block grid, and the block offset (rows,
    cols) of their top-left block, known modulo `placement.period // BLOCK`."""
    # The first row and column of the suspect that fall on a block boundary of the output.
    top, left = (-placement.shift[0]) % BLOCK, (-placement.shift[1]) % BLOCK
    origin = ((top + placement.shift[0]) // BLOCK, (left + placement.shift[1]) // BLOCK)
    interpolation = cv2.INTER_AREA if placement.scale > 1 else cv2.INTER_LINEAR
    thumbnails = []
    for frame in _frames(path):
        image = frame[:, ::-1] if placement.mirrored else frame
        height, width = image.shape
        size = (round(width / placement.scale), round(height / placement.scale))
        if min(size) < BLOCK:
            break
        image = cv2.resize(image, size, interpolation=interpolation)
        thumbnails.append(_blocks(image[top:, left:]))
    return thumbnails, origin


def _normalized(rows: np.ndarray) -> np.ndarray:
    """Each row (a flattened thumbnail) with zero mean and unit norm (rows flatter than one
    luma level stay zero)."""
    rows = rows.astype(np.float32)
    rows -= rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms >= np.sqrt(rows.shape[1]))


def _correlations(windows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Pearson correlation of each window with each normalized query row. The query has zero
    mean, so the raw window's product with it is the centred one's: only each window's own
    spread is needed, not a centred copy (which took 70 % of the search). Windows flatter than
    one luma level score 0."""
    rows = windows.reshape(len(windows), -1).astype(np.float32)
    count = rows.shape[1]
    total = rows.sum(axis=1)
    spread = np.einsum("ij,ij->i", rows, rows) - total * total / count
    norms = np.sqrt(np.maximum(spread, 0.0))[:, None]
    products = rows @ query.T
    return np.divide(products, norms, out=np.zeros_like(products), where=norms >= np.sqrt(count))


def _keep_best(best: np.ndarray, owners: np.ndarray, scores: np.ndarray) -> None:
    """best[owner] = max(best[owner], each of its rows of scores). An output's thumbnails lie
    side by side, so each run of one owner reduces at once (np.maximum.at took 3x as long)."""
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    who = owners[starts]
    best[who] = np.maximum(best[who], np.maximum.reduceat(scores, starts, axis=0))


@dataclass
class PlacedLead:
    output_id: str
    score: float  # mean over the suspect's thumbnails of its best correlation with this output
    frames_matched: int  # suspect thumbnails whose best correlation reached MIN_SCORE

    def measures(self) -> dict[str, object]:
        return {"score": round(self.score, 3), "frames_matched": self.frames_matched}


@dataclass
class ThumbnailIndex:
    """Every output's grid thumbnails, grouped by thumbnail size (outputs of one size share an
    array), with the output each thumbnail belongs to."""

    output_ids: list[str] = field(default_factory=list)
    _groups: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _pending: dict[tuple[int, int], list[tuple[np.ndarray, int]]] = field(default_factory=dict)

    def add(self, output_id: str, thumbnails: np.ndarray) -> None:
        if thumbnails.ndim != 3 or 0 in thumbnails.shape:
            return
        self.output_ids.append(output_id)
        shape = (int(thumbnails.shape[1]), int(thumbnails.shape[2]))
        self._pending.setdefault(shape, []).append((thumbnails, len(self.output_ids) - 1))

    def _merged(self) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
        """Pending additions joined onto each size's array, once per batch (not per output)."""
        for shape, pending in self._pending.items():
            thumbs, owners = self._groups.get(
                shape, (np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64))
            )
            self._groups[shape] = (
                np.concatenate([thumbs, *(t for t, _ in pending)]),
                np.concatenate([owners, *(np.full(len(t), o, np.int64) for t, o in pending)]),
            )
        self._pending = {}
        return self._groups

    def search(
        self, queries: list[np.ndarray], origin: tuple[int, int], period: int, limit: int = 10
    ) -> list[PlacedLead]:
        """Outputs whose thumbnails, at a block offset that agrees with `origin` modulo
        `period // BLOCK`, correlate with the suspect's thumbnails by MIN_SCORE on average."""
        if not queries or min(queries[0].shape) < MIN_BLOCKS:
            return []
        height, width = queries[0].shape
        query = _normalized(np.stack([q.ravel() for q in queries]))
        steps = max(1, period // BLOCK)
        best = np.full((len(self.output_ids), len(queries)), -1.0, dtype=np.float32)
        for (rows, cols), (thumbs, owners) in self._merged().items():
            for top in range(origin[0] % steps, rows - height + 1, steps):
                for left in range(origin[1] % steps, cols - width + 1, steps):
                    cut = thumbs[:, top : top + height, left : left + width]
                    for start in range(0, len(cut), CHUNK):
                        scores = _correlations(cut[start : start + CHUNK], query)
                        _keep_best(best, owners[start : start + CHUNK], scores)
        mean = best.mean(axis=1)
        found = np.flatnonzero(mean >= MIN_SCORE)
        found = found[np.argsort(-mean[found], kind="stable")][:limit]
        return [
            PlacedLead(self.output_ids[i], float(mean[i]), int((best[i] >= MIN_SCORE).sum()))
            for i in found
        ]
