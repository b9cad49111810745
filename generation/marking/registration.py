"""Where a suspect frame sits in a reference clip: which frame it shows, and the similarity
transform (scale, rotation, shift, perhaps mirrored) that lays it over that frame.

Informed detection (`tile.KeyedTileWatermarker.detect_informed`) needs it to subtract the picture
an output shows from a suspect copy of it, so that only the marks are left. ORB features matched
under RANSAC give the transform to a pixel or two; ECC (OpenCV's enhanced correlation coefficient,
invariant to contrast and brightness changes) refines it to a fraction of a pixel, which the
subtraction needs: a pixel's error along an edge leaves more than the mark itself.

numpy and OpenCV only, like the rest of `generation.marking`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import cv2
import numpy as np

ORB_FEATURES = 3000
# FAST's default corner threshold finds almost nothing on soft, low-contrast pictures (the retina
# photograph of the bench: 15 keypoints); the low one is the retry.
FAST_THRESHOLDS = (20, 5)
MIN_INLIERS = 12  # a similarity from fewer agreeing matches is not trusted
GOOD_INLIERS = 40  # this many on the first frame: stop looking at other frames
REFERENCE_PROBES = 8  # frames of the reference compared when its first frame is not a match
ECC_ITERATIONS = 60
MAX_ECC_DRIFT = 4.0  # px: ECC moving a corner further than this has wandered off
# A still's frame (`shown_frame`): every SHOWN_STRIDE-th frame is aligned (at half size, a few ECC
# iterations, each started from its neighbour's warp moved on as the shot moves), then the frames
# beside the best.
SHOWN_STRIDE = 3
SHOWN_ECC_ITERATIONS = 30
SHOWN_MAX_DRIFT = 12.0  # half-size px: three frames of a fast pan, but not somewhere else entirely


@dataclass(frozen=True)
class Registration:
    warp: (
        np.ndarray
    )  # 2x3 float32: reference pixel -> suspect pixel (of the suspect, mirrored first)
    mirrored: bool
    reference_index: int
    inliers: int

    @property
    def scale(self) -> float:
        """Suspect pixels per reference pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.warp[:, :2]))))


def register(suspect: np.ndarray, references: np.ndarray) -> Registration | None:
    """The registration of one suspect luma frame (H, W) against reference luma frames (F, H, W),
    both 0-255; None when no frame matches well enough to trust."""
    best = _best_match(suspect, references, 0)
    if best is None or best.inliers < GOOD_INLIERS:
        for index in np.unique(np.linspace(0, len(references) - 1, REFERENCE_PROBES).round()):
            if int(index) == 0:
                continue
            found = _best_match(suspect, references, int(index))
            if found is not None and (best is None or found.inliers > best.inliers):
                best = found
    return None if best is None else _refined(suspect, references, best)


def shown_frame(suspect: np.ndarray, references: np.ndarray, found: Registration) -> Registration:
    """The registration of a still on the frame of `references` it shows, from `found` (what
    `register` gave: the first frame that matches well).

    A still of a moving shot matches every frame of it, since a pan or a zoom is a similarity
    too, so `register` lays it over frame 0; but its mark sits on the pixels of the frame it was
    cut from, and a zoom of 2 % between the two scales it away (docs/provenance.md). The frame it
    shows is the one it reproduces most closely once aligned on each: the least high-passed
    difference, where the fine detail (and the output's own mark) line up. The frame is chosen
    from the pictures alone and then read once: reading a still on several frames gives an
    unmarked one as many chances to pass for marked."""
    count = len(references)
    if count < 2:
        return found
    image = oriented(suspect, found.mirrored)
    small = _half(image)
    scores: dict[int, tuple[float, np.ndarray]] = {}

    def score(index: int, start: np.ndarray) -> np.ndarray | None:
        if index in scores or not 0 <= index < count:
            return scores[index][1] if index in scores else None
        warp = _half_ecc(small, np.asarray(references[index], np.float32), start)
        if warp is None:
            return None
        candidate = Registration(warp, found.mirrored, index, found.inliers)
        laid, valid = overlay(suspect, candidate, references[index].shape[:2])
        if valid.mean() < 0.05:
            return None
        difference = _detail(laid - np.asarray(references[index], np.float32))[valid]
        scores[index] = (float(np.sqrt(np.mean(difference * difference))), warp)
        return warp

    origin = found.reference_index
    start = found.warp.astype(np.float32)
    for step in (SHOWN_STRIDE, -SHOWN_STRIDE):  # outwards from `found`, each from its neighbour
        warp, motion = start, np.zeros_like(start)
        for index in range(origin if step > 0 else origin + step, -1 if step < 0 else count, step):
            aligned = score(index, warp + motion)  # the shot keeps moving as it moved
            if aligned is not None:
                motion = aligned - warp if index != origin else motion
                warp = aligned
    if not scores:
        return found
    best = min(scores, key=lambda index: scores[index][0])
    for offset in range(1, SHOWN_STRIDE):
        for index in (best - offset, best + offset):
            score(index, scores[best][1])
    best = min(scores, key=lambda index: scores[index][0])
    if best == origin:
        return found
    return _refined(
        suspect, references, Registration(scores[best][1], found.mirrored, best, found.inliers)
    )


def _half(image: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(np.asarray(image, np.float32), (0, 0), 1.0)
    return cv2.resize(blurred, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def _half_ecc(small: np.ndarray, reference: np.ndarray, warp: np.ndarray) -> np.ndarray | None:
    """`warp` (reference -> suspect, full size) refined by ECC on both at half size; None where
    ECC does not converge or wanders off."""
    half = warp.astype(np.float32).copy()
    half[:, 2] *= 0.5
    try:
        _, refined = cv2.findTransformECC(
            _half(reference),
            small,
            half.copy(),
            cv2.MOTION_AFFINE,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, SHOWN_ECC_ITERATIONS, 1e-4),
        )
    except cv2.error:
        return None
    refined = np.asarray(refined, dtype=np.float32).copy()
    if _corner_drift(half, refined, reference[::2, ::2].shape) > SHOWN_MAX_DRIFT:
        return None
    refined[:, 2] *= 2.0
    return refined


def _detail(image: np.ndarray) -> np.ndarray:
    """What a 4 px blur takes away: fine detail, the mark's cells among it."""
    return image - cv2.GaussianBlur(image, (0, 0), 4.0)


def _refined(suspect: np.ndarray, references: np.ndarray, best: Registration) -> Registration:
    """`best` (from features) refined by ECC where ECC converges near it."""
    reference = np.asarray(references[best.reference_index], dtype=np.float32)
    image = oriented(suspect, best.mirrored)
    warp = best.warp.astype(np.float32)
    with contextlib.suppress(cv2.error):  # ECC did not converge: the feature estimate stands
        _, ecc = cv2.findTransformECC(
            cv2.GaussianBlur(reference, (0, 0), 1.0),
            cv2.GaussianBlur(image, (0, 0), 1.0),
            warp.copy(),
            cv2.MOTION_AFFINE,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, 1e-5),
        )
        refined = np.asarray(ecc, dtype=np.float32)
        if _corner_drift(warp, refined, reference.shape) <= MAX_ECC_DRIFT:
            warp = refined  # a refinement, not a different answer
    return Registration(warp, best.mirrored, best.reference_index, best.inliers)


def _corner_drift(one: np.ndarray, other: np.ndarray, shape: tuple[int, ...]) -> float:
    """How far apart two warps put the reference's corners, in suspect pixels."""
    height, width = shape[:2]
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], np.float32)
    return float(np.abs(corners @ one.T - corners @ other.T).max())


def oriented(suspect: np.ndarray, mirrored: bool) -> np.ndarray:
    image = np.asarray(suspect, dtype=np.float32)
    return np.ascontiguousarray(image[:, ::-1] if mirrored else image)


def overlay(
    suspect: np.ndarray, registration: Registration, shape: tuple[int, int], margin: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """The suspect frame resampled onto the reference frame's pixels, and where it is valid (the
    suspect covers the pixel, `margin` pixels in from its edges)."""
    height, width = shape
    image = oriented(suspect, registration.mirrored)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    laid = cv2.warpAffine(image, registration.warp, (width, height), flags=flags)
    cover = cv2.warpAffine(
        np.ones_like(image), registration.warp, (width, height), flags=cv2.INTER_NEAREST | flags
    )
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    valid = cv2.erode((cover > 0.5).astype(np.uint8), kernel) > 0
    return laid, valid


def _best_match(suspect: np.ndarray, references: np.ndarray, index: int) -> Registration | None:
    reference = _as_uint8(references[index])
    best: Registration | None = None
    for threshold in FAST_THRESHOLDS:
        orb = cv2.ORB.create(ORB_FEATURES, fastThreshold=threshold)
        ref_points, ref_descriptors = orb.detectAndCompute(reference, None)
        if ref_descriptors is None or len(ref_points) < MIN_INLIERS:
            continue
        for mirrored in (False, True):
            image = _as_uint8(oriented(suspect, mirrored))
            points, descriptors = orb.detectAndCompute(image, None)
            if descriptors is None or len(points) < MIN_INLIERS:
                continue
            matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(
                ref_descriptors, descriptors
            )
            if len(matches) < MIN_INLIERS:
                continue
            source = np.array([ref_points[m.queryIdx].pt for m in matches], dtype=np.float32)
            target = np.array([points[m.trainIdx].pt for m in matches], dtype=np.float32)
            warp, inliers = cv2.estimateAffinePartial2D(
                source, target, method=cv2.RANSAC, ransacReprojThreshold=2.0
            )
            if warp is None or inliers is None:
                continue
            count = int(inliers.sum())
            if count >= MIN_INLIERS and (best is None or count > best.inliers):
                best = Registration(warp, mirrored, index, count)
        if best is not None and best.inliers >= GOOD_INLIERS:
            break
    return best


def _as_uint8(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
