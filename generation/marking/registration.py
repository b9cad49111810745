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
