"""`keyed-tile-v2`: a keyed spread-spectrum luma watermark that survives re-encoding, rescaling,
cropping, mirroring, trimming, single-frame screenshots and letterboxing.

Embedding. A secret key generates a 192 px tile (32 x 32 cells of 6 px, smoothly interpolated):
a keyed sync pattern plus the payload (40-bit serial + 24-bit keyed tag, under a K=7 rate-1/2
convolutional code; each coded symbol spread over ~16 cells scattered by a keyed permutation).
The tile repeats over the whole luma plane, identical in every frame, and is added at a strength
that grows with the local texture (flat skies get little, foliage gets more), within a budget: no
frame's PSNR (marked vs unmarked) falls under 40 dB. `keyed-tile-v1` is the same mark without the
budget; it still names outputs marked before the budget, so that their share links' copies are
re-marked at the strength they were marked with. Both read alike: the detector never needs to know
the strength's scale.

Detection. Frames are averaged (the mark is static, the content moves), high-passed and whitened;
the tile period is estimated from the residual's autocorrelation (so a rescaled copy is brought
back to 192 px tiles), and the whole frame is folded onto one tile: any crop becomes a cyclic shift,
found by correlating with the sync pattern. The payload is read from the aligned tile, decoded, and
reported only if the keyed tag verifies. Mirrored and letterboxed copies are retried.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from generation.marking import ecc, registration
from generation.marking.base import Detection, Placement, register

NAME = "keyed-tile-v2"
UNBUDGETED_NAME = "keyed-tile-v1"
TILE = 192
CELL = 6
GRID = TILE // CELL
SERIAL_BITS = 40
TAG_BITS = 24
PAYLOAD_BITS = SERIAL_BITS + TAG_BITS
CODED = ecc.coded_length(PAYLOAD_BITS)
SYNC_WEIGHT, DATA_WEIGHT = 0.6, 0.8
# Strength in luma levels (0-255): the floor on flat areas, growth with texture, the ceiling.
STRENGTH_FLAT, STRENGTH_GAIN, STRENGTH_MAX = 2.0, 0.35, 4.0
# The picture-quality budget: a frame's mark may not push its PSNR (marked vs unmarked) under this.
# On a textured frame the strength texture earns is scaled down to fit; the rounding of 8-bit
# frames adds about 0.17 levels² on top (40.25 dB of mark -> 40.1 dB measured).
MARK_MIN_PSNR_DB = 40.25
MARK_MAX_POWER = 255.0**2 / 10 ** (MARK_MIN_PSNR_DB / 10)  # mean squared mark, luma levels²
SYNC_MIN_Z = 4.0  # below this the fold is noise: do not even try to decode
SYNC_HINT_Z = 4.6  # the best of 36,864 shifts of pure noise scores about 4.3
SCALE_RANGE = (0.28, 1.7)
# Informed detection: the share of the output's own mark a suspect must still carry (measured on
# the bench's clips: copies re-uploaded "social"-style keep 0.37-0.76 of it; unmarked copies of the
# same picture read -0.22-0.04, docs/provenance.md).
INFORMED_MIN_FRACTION = 0.25
# ... and stand clear of what the picture's own texture makes of any share measured on it: an
# unmarked copy of a busy picture read 0.06-0.19 of the mark on a small test clip (once over 0.25:
# a false id in CI), that picture's spread measured on unrelated payloads: SPREAD_PAYLOADS random
# 40-bit payloads, whose data marks are uncorrelated (those of 1..8, which stop 29 used, share
# most of their coded bits, correlate at 0.5 and gave too small a spread).
INFORMED_MIN_SIGMAS = 3.0
SPREAD_POWERS = 4
SPREAD_PAYLOADS = tuple(
    int(p) for p in np.random.default_rng(0x5EED).integers(1, 1 << SERIAL_BITS, 32)
)
INFORMED_MAX_SHIFT = 2  # px: registered onto the output, the sync must sit where it was embedded
WEIGHTED_FRAMES = 8  # frames the weighted search whitens and folds one by one
WEIGHTED_SEEDS = 3  # single frames whose own sync peak seeds a candidate shift
# The weighted search picks its shift among many and its weights to fit it, so noise scores high:
# over 4,130 tries on unmarked suspects the sync's z-score reached 6.41 (26 % above 4.6), while
# every verified read scored 7.16 or more (docs/provenance.md). Below this it does not decode.
WEIGHTED_MIN_Z = 6.0
WEIGHTED_NEIGHBOUR_RANKS = 2  # scale groups whose neighbours (not only the estimate) are read
# `locate` keeps the best sync peak of two images, several scales and a mirror: on unmarked copies
# and with wrong keys it reached 5.50 in 246 tries (median 4.24); copies of marked outputs placed
# right scored 6.4-12.9 before the picture-quality budget, and down to 5.3 under it (7 of 8
# serials of a "social" + crop copy of one bench clip scored 5.28-6.02, docs/provenance.md). A
# placement is only a lead: one made by noise costs a thumbnail search, whose thumbnails then
# match nothing (wrongly placed, none passed 0.77 of the 0.8 needed), and never an id (the mark
# must still verify against the output found, with its share). Below this it is not made.
PLACE_MIN_Z = 5.0


@dataclass(frozen=True)
class _Keyed:
    sync: np.ndarray  # (TILE, TILE) sync pattern as embedded
    sync_fft: np.ndarray
    signs: np.ndarray  # (GRID, GRID) ±1
    slots: np.ndarray  # (GRID, GRID) which coded symbol each cell carries


def _keyed(key: bytes) -> _Keyed:
    seed = int.from_bytes(hmac.new(key, b"keyed-tile-v1/patterns", hashlib.sha256).digest()[:16])
    rng = np.random.default_rng(seed)
    sync_cells = rng.choice([-1.0, 1.0], size=(GRID, GRID))
    signs = rng.choice([-1.0, 1.0], size=(GRID, GRID))
    slots = (rng.permutation(GRID * GRID) % CODED).reshape(GRID, GRID)
    sync = _upsample(SYNC_WEIGHT * sync_cells)
    return _Keyed(sync, np.fft.rfft2(sync), signs, slots)


def _upsample(cells: np.ndarray) -> np.ndarray:
    """Cells -> a smooth, cyclic TILE x TILE pattern (cubic interpolation across tile edges)."""
    pad = 2
    wrapped = np.pad(cells, pad, mode="wrap").astype(np.float32)
    size = (GRID + 2 * pad) * CELL
    big = cv2.resize(wrapped, (size, size), interpolation=cv2.INTER_CUBIC)
    return big[pad * CELL : pad * CELL + TILE, pad * CELL : pad * CELL + TILE].astype(np.float64)


def tag_of(key: bytes, serial: int) -> int:
    digest = hmac.new(key, b"tag" + serial.to_bytes(5, "big"), hashlib.sha256).digest()
    return int.from_bytes(digest[:3], "big")


def _bits(value: int, width: int) -> np.ndarray:
    return np.array([(value >> (width - 1 - i)) & 1 for i in range(width)], dtype=np.int64)


def _value(bits: np.ndarray) -> int:
    return int("".join(str(int(b)) for b in bits), 2)


class KeyedTileWatermarker:
    name = NAME
    capacity_bits = SERIAL_BITS
    max_power: float | None = MARK_MAX_POWER  # the picture-quality budget (None: no budget)

    def __init__(self, key: bytes, key_version: int) -> None:
        if len(key) < 16:
            raise ValueError("A watermark key needs at least 16 bytes.")
        self.key, self.key_version = key, key_version
        self._patterns = _keyed(key)
        self._spread: np.ndarray | None = None  # `_spread_tiles`, made on first use

    # --- embedding ---------------------------------------------------------------------------

    def tile(self, payload: int) -> np.ndarray:
        """The unit-RMS tile that carries `payload` (sync included)."""
        if not 0 <= payload < 1 << SERIAL_BITS:
            raise ValueError(f"A payload must fit in {SERIAL_BITS} bits.")
        bits = np.concatenate(
            [_bits(payload, SERIAL_BITS), _bits(tag_of(self.key, payload), TAG_BITS)]
        )
        symbols = ecc.encode(bits)
        data = _upsample(DATA_WEIGHT * self._patterns.signs * symbols[self._patterns.slots])
        pattern = self._patterns.sync + data
        return pattern / np.sqrt(np.mean(pattern**2))

    def embed(self, frames: np.ndarray, payload: int) -> np.ndarray:
        return self.embed_pattern(frames, self.tile(payload))

    def remark(self, frames: np.ndarray, old: int, new: int) -> np.ndarray:
        """Turn frames marked with `old` into frames marked with `new` (sync stays as it is)."""
        return self.embed_pattern(frames, self.tile(new) - self.tile(old))

    def embed_pattern(self, frames: np.ndarray, tile: np.ndarray) -> np.ndarray:
        _, height, width, _ = frames.shape
        reps = (-(-height // TILE), -(-width // TILE))
        plane = np.tile(tile, reps)[:height, :width].astype(np.float32) / 255.0
        for frame in frames:  # one frame at a time: no clip-sized temporaries
            mark = cv2.multiply(strength_map(frame, self.max_power), plane)
            # OpenCV adds the three channels at once; numpy's broadcast over the last axis took
            # about half of the embedding time.
            cv2.add(frame, cv2.merge((mark, mark, mark)), dst=frame)
            np.clip(frame, 0.0, 1.0, out=frame)
        return frames

    # --- detection ---------------------------------------------------------------------------

    def detect(self, luma: np.ndarray, *, weighted: bool = True) -> Detection | None:
        """The blind read: the mean of all frames, then (unless `weighted` is False) the
        frame-weighted read, which costs unmarked suspects about 1.7 s more (a trace reads the
        suspect against its fingerprint leads' files in between: `detect_weighted`)."""
        frames = np.asarray(luma, dtype=np.float32)
        found = self._detect_mean(frames.mean(axis=0) if frames.ndim == 3 else frames)
        if found is None and weighted:
            found = self.detect_weighted(frames)
        return found

    def detect_mean(self, luma: np.ndarray) -> Detection | None:
        """The first half of the blind read: the mean of all frames only."""
        return self.detect(luma, weighted=False)

    def detect_weighted(self, luma: np.ndarray) -> Detection | None:
        """The second half: the frame-weighted read on its own (None for a single frame)."""
        frames = np.asarray(luma, dtype=np.float32)
        if frames.ndim != 3 or len(frames) < 2:
            return None
        return self._detect_weighted(frames)

    def _detect_mean(self, mean: np.ndarray) -> Detection | None:
        for image, letterboxed in _variants(mean):
            if min(image.shape) < 48:
                continue
            residual = whiten(image)
            periods = estimate_periods(residual)  # a mirror has the same period
            for mirrored in (False, True):
                found = self._search(residual[:, ::-1] if mirrored else residual, periods)
                if found is not None:
                    payload, z, scale = found
                    return Detection(
                        payload=payload,
                        key_version=self.key_version,
                        confidence=z,
                        scale=scale,
                        mirrored=mirrored,
                        details={"letterbox_removed": letterboxed},
                    )
        return None

    def locate(self, luma: np.ndarray) -> Placement | None:
        """Where the suspect lies on the embedder's grid, from the sync alone: a copy whose payload
        no blind read recovers often still shows the sync, in its first frame (a keyframe) more
        than in the mean of all frames (docs/provenance.md). Only a lead: a cropped copy placed
        on the output's grid can be matched against outputs' thumbnails, and the mark is then
        read against the outputs found (`detect_informed`). None when no sync shows."""
        frames = np.asarray(luma, dtype=np.float32)
        images = [frames] if frames.ndim == 2 else [frames[0], frames.mean(axis=0)]
        best: Placement | None = None
        for image in images:
            if min(image.shape) < 48:
                continue
            residual = whiten(image)
            periods = estimate_periods(residual)
            scales = [1.0, *(p / TILE for p in [*periods, *(p / 2 for p in periods)])]
            for scale in scales:
                if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
                    continue
                for mirrored in (False, True):
                    folded = fold(residual[:, ::-1] if mirrored else residual, scale)
                    if folded is None:
                        continue
                    shift, z = self._sync_peak(folded)
                    if best is None or z > best.confidence:
                        best = Placement(scale, mirrored, shift, TILE, z)
        return best if best is not None and best.confidence >= PLACE_MIN_Z else None

    def _sync_peak(self, folded: np.ndarray) -> tuple[tuple[int, int], float]:
        """The cyclic shift of a folded tile where the sync correlates best, and its z-score."""
        corr = self._sync_correlation(folded)
        dy, dx = np.unravel_index(int(np.argmax(corr)), corr.shape)
        return (int(dy), int(dx)), float((corr[dy, dx] - corr.mean()) / (corr.std() + 1e-12))

    def _sync_correlation(self, folded: np.ndarray) -> np.ndarray:
        """The folded tile's correlation with the sync at every cyclic shift."""
        spectrum = np.conj(np.fft.rfft2(folded)) * self._patterns.sync_fft
        return np.asarray(np.fft.irfft2(spectrum, s=folded.shape))

    def _decode_at(self, folded: np.ndarray, peak: tuple[int, int]) -> int | None:
        """The payload of a folded tile aligned at the sync's peak, or None if its tag does not
        verify. The sync is known: its share is taken out so it does not add to the noise."""
        aligned = np.roll(folded, shift=peak, axis=(0, 1))
        sync = self._patterns.sync
        aligned = aligned - sync * float(np.sum(aligned * sync) / np.sum(sync * sync))
        return self._decode(aligned)

    def detect_informed(
        self, luma: np.ndarray, reference: np.ndarray, reference_payload: int
    ) -> Detection | None:
        """Look for a mark in a suspect knowing which output it may copy: `reference` is that
        output's luma frames (F, H, W) as delivered, marked with `reference_payload`.

        A blind read has the picture itself for noise, and a re-encoder at a low bitrate keeps
        little of the mark beyond its first keyframe (docs/provenance.md). Here the suspect's
        first frame (always a keyframe) is registered onto the output's matching frame, the
        output's picture is subtracted (after fitting the copy's contrast and brightness), and
        the output's own mark, at the strength its encoding kept, is added back: what is left is
        the suspect's marks and little else. It is read at scale 1 with the sync required where
        the embedder put it, the keyed tag must verify, and the payload's mark must be a real
        share of the output's mark (`INFORMED_MIN_FRACTION`): an unmarked copy of the same
        picture leaves only the estimate's error, which decodes to the output's serial too but
        at a small fraction. Mirrored, rescaled and cropped copies are registered like any other."""
        frames = np.asarray(luma, dtype=np.float32)
        frame = frames[0] if frames.ndim == 3 else frames
        references = np.asarray(reference, dtype=np.float32)
        if min(frame.shape) < 48 or references.ndim != 3:
            return None
        if not self.carries(references, reference_payload):
            return None
        found = registration.register(frame, references)
        if found is None:
            return None
        if frames.ndim == 2 or len(frames) == 1:  # a still: any frame of the output, not only 0
            found = registration.shown_frame(frame, references, found)
        return self._informed_at(frame, references, found, reference_payload)

    def _informed_at(
        self,
        frame: np.ndarray,
        references: np.ndarray,
        found: registration.Registration,
        reference_payload: int,
    ) -> Detection | None:
        """The informed read of `frame` laid over the reference frame `found` registered it on.
        Every measure here is taken on that one picture, so its strength map is made once."""
        picture = references[found.reference_index]
        laid, valid = registration.overlay(frame, found, picture.shape)
        if valid.mean() < 0.05:
            return None
        # The copy's tone curve (contrast, brightness, saturation changes) as a quadratic in the
        # output's luma, fitted where the copy covers it.
        base = picture[valid].astype(np.float64)
        design = np.stack([np.ones_like(base), base, base * base / 255.0], axis=1)
        coef = np.linalg.lstsq(design, laid[valid].astype(np.float64), rcond=None)[0]
        gain = float(coef[1] + 2.0 * coef[2] * base.mean() / 255.0)
        if gain < 0.2:
            return None
        fitted = coef[0] + coef[1] * picture + coef[2] * picture * picture / 255.0
        strength = strength_of_luma(picture, self.max_power)
        own = _highpass(self.pattern(picture, reference_payload, strength=strength))
        kept = self.kept_share(picture, reference_payload, strength=strength, mark=own)
        own *= valid
        if kept < INFORMED_MIN_FRACTION:  # this frame of the output has lost its mark
            return None
        spread = self._share_spread(picture, valid, strength)
        marks = (_highpass((laid - fitted).astype(np.float32)) / gain + kept * own) * valid
        noise = np.sqrt(cv2.GaussianBlur(marks * marks, (0, 0), 8.0)) + 0.7
        weighted = np.clip(marks / noise, -3.0, 3.0) * strength / noise * valid
        read = self._read_registered(weighted)
        if read is None:
            return None
        payload, z, shift = read
        data = self.pattern(picture, payload, data_only=True, shift=shift, strength=strength)
        data = _highpass(data) * valid
        fraction = float(np.sum(marks * data) / (np.sum(data * data) + 1e-12)) / max(kept, 1e-6)
        if fraction < INFORMED_MIN_FRACTION or fraction * kept < INFORMED_MIN_SIGMAS * spread:
            return None
        return Detection(
            payload=payload,
            key_version=self.key_version,
            confidence=z,
            scale=found.scale,
            mirrored=found.mirrored,
            details={
                "informed": True,
                "mark_fraction": round(fraction, 2),
                "mark_sigmas": round(fraction * kept / max(spread, 1e-6), 1),
                "reference_frame": found.reference_index,
                "registration_inliers": found.inliers,
                "sync_shift": list(shift),
            },
        )

    def carries(self, luma: np.ndarray, payload: int) -> bool:
        """Whether an output's file as delivered (luma frames) carries this key's mark of
        `payload` where the embedder put it: the sync peaking at the origin of the mean of its
        frames, folded at scale 1, and the keyed tag verifying on that payload. The informed read
        measures a copy by the output's own mark, and read against the output's very file it
        gives back whatever that mark is taken to be: a file marked with another deployment's key
        (whose "kept share" is then the picture's noise) or never marked must not be read
        against at all. Another key fails the 24-bit tag; a whole second blind read is not
        needed, the geometry is known."""
        frames = np.asarray(luma, dtype=np.float32)
        mean = frames.mean(axis=0) if frames.ndim == 3 else frames
        if min(mean.shape) < 48:
            return False
        folded = fold(whiten(mean), 1.0)
        if folded is None:
            return False
        corr = self._sync_correlation(folded)
        if (corr[0, 0] - corr.mean()) / (corr.std() + 1e-12) < SYNC_HINT_Z:
            return False
        return self._decode_at(folded, (0, 0)) == payload

    def pattern(
        self,
        luma: np.ndarray,
        payload: int,
        *,
        data_only: bool = False,
        shift: tuple[int, int] = (0, 0),
        strength: np.ndarray | None = None,
    ) -> np.ndarray:
        """The mark `embed` adds to a frame of this luma, in luma levels (with the sync, or only
        the payload's part of it); with `shift`, as a residual whose sync peaks at that shift
        carries it (the tile moved back by it). `strength`: the luma's `strength_of_luma`, where
        the caller has it already."""
        tile = self.tile(payload)
        if data_only:
            sync = self._patterns.sync
            tile = tile - sync * float(np.sum(tile * sync) / np.sum(sync * sync))
        if shift != (0, 0):
            tile = np.roll(tile, (-shift[0], -shift[1]), axis=(0, 1))
        height, width = luma.shape
        plane = np.tile(tile, (-(-height // TILE), -(-width // TILE)))[:height, :width]
        if strength is None:
            strength = strength_of_luma(np.asarray(luma, dtype=np.float32), self.max_power)
        return strength * plane.astype(np.float32)

    def _share_spread(self, picture: np.ndarray, valid: np.ndarray, strength: np.ndarray) -> float:
        """How far the picture's own texture moves a share measured on it: the standard deviation
        of the shares of unrelated payloads' data marks (none of which it carries) where the copy
        covers it. An unmarked copy of a picture reads as a share of about this size.

        The high-pass is its own adjoint (up to the borders), so each share's numerator
        <hp(picture), hp(strength * plane)> is <strength * hp(hp(picture)), plane>: one
        picture-sized product folded onto the tile, then one tile-sized product per payload. The
        data marks of random payloads differ in power by a few per cent: the mean of the first
        SPREAD_POWERS serves as every share's denominator."""
        highpassed = _highpass(picture) * valid
        weights = (strength * _highpass(highpassed)).astype(np.float64)
        height, width = weights.shape
        rows, cols = -(-height // TILE), -(-width // TILE)
        padded = np.zeros((rows * TILE, cols * TILE))
        padded[:height, :width] = weights
        folded = padded.reshape(rows, TILE, cols, TILE).sum(axis=(0, 2))
        tiles = self._spread_tiles()
        powers = []
        for payload in SPREAD_PAYLOADS[:SPREAD_POWERS]:
            data = self.pattern(picture, payload, data_only=True, strength=strength)
            data = _highpass(data) * valid
            powers.append(float(np.sum(data * data)))
        power = float(np.mean(powers)) + 1e-12
        return float(np.std(tiles.reshape(len(tiles), -1) @ folded.reshape(-1)) / power)

    def _spread_tiles(self) -> np.ndarray:
        """The data-only tiles of SPREAD_PAYLOADS (made once per watermarker: a few ms each)."""
        if self._spread is None:
            sync = self._patterns.sync
            tiles = [self.tile(payload) for payload in SPREAD_PAYLOADS]
            self._spread = np.stack(
                [t - sync * float(np.sum(t * sync) / np.sum(sync * sync)) for t in tiles]
            )
        return self._spread

    def kept_share(
        self,
        frame: np.ndarray,
        payload: int,
        *,
        strength: np.ndarray | None = None,
        mark: np.ndarray | None = None,
    ) -> float:
        """How much of the mark marked with `payload` a delivered frame still carries (1: all of
        it): the high-passed frame's projection on the high-passed mark. The worker's encoding
        keeps 0.65-0.98 of it depending on the frame (the keyframe most); the picture adds noise
        to the estimate (0.05 standard deviation on the bench's clips), not bias."""
        frame = np.asarray(frame, dtype=np.float32)
        if mark is None:  # the high-passed mark, where the caller has made it already
            mark = _highpass(self.pattern(frame, payload, strength=strength))
        return float(np.sum(_highpass(frame) * mark) / (np.sum(mark * mark) + 1e-12))

    def _read_registered(self, weighted: np.ndarray) -> tuple[int, float, tuple[int, int]] | None:
        """Payload, sync z-score and the sync's shift of a residual laid on the output's frame;
        None unless the sync peaks clearly (SYNC_HINT_Z) and the keyed tag verifies. Where the
        embedder put it first (within INFORMED_MAX_SHIFT): a copy of that very frame. Then
        wherever it peaks best: a copy of another frame of a moving shot, which the registration
        laid over this one by the picture, carrying the static mark along with the motion (a JPEG
        of frame 10 of a slow pan laid over frame 9 by the picture, its mark a few px away; a
        video copy's first frame, which may show a later frame than the output's first)."""
        folded = fold(weighted, 1.0)
        if folded is None:
            return None
        corr = self._sync_correlation(folded)
        near = np.roll(corr, (INFORMED_MAX_SHIFT, INFORMED_MAX_SHIFT), axis=(0, 1))
        near = near[: 2 * INFORMED_MAX_SHIFT + 1, : 2 * INFORMED_MAX_SHIFT + 1]
        dy, dx = np.unravel_index(int(np.argmax(near)), near.shape)
        by, bx = np.unravel_index(int(np.argmax(corr)), corr.shape)
        best = _signed(int(by), int(bx))
        peaks = [(int(dy) - INFORMED_MAX_SHIFT, int(dx) - INFORMED_MAX_SHIFT)]
        if max(abs(best[0]), abs(best[1])) > INFORMED_MAX_SHIFT:
            peaks.append(best)
        for peak in peaks:
            z = float((corr[peak] - corr.mean()) / (corr.std() + 1e-12))
            if z < SYNC_HINT_Z:
                continue
            payload = self._decode_at(folded, peak)
            if payload is not None:
                return payload, z, peak
        return None

    def _detect_weighted(self, frames: np.ndarray) -> Detection | None:
        """The mean of all frames failed: weigh frames by their own evidence instead. A re-encoder
        at a low bitrate keeps the mark in its keyframes (the first decoded frame is always one)
        and lets motion compensation smear it in the frames predicted from them, so the plain
        mean drowns the few good frames in many poor ones. Each of up to WEIGHTED_FRAMES frames is
        whitened and folded on its own; frames are combined with weights equal to their own sync
        correlation at a candidate shift (maximal-ratio combining), and the combination is decoded
        as before: nothing is reported unless the keyed tag verifies."""
        if min(frames.shape[1:]) < 48:
            return None
        picks = np.linspace(0, len(frames) - 1, min(WEIGHTED_FRAMES, len(frames)))
        whites = [whiten(frames[i]) for i in np.unique(picks.round().astype(int))]
        periods = estimate_periods(whiten(frames.mean(axis=0)))
        for period in estimate_periods(whites[0]):  # the first frame is a keyframe
            if all(abs(period - p) > 1.5 for p in periods):
                periods.append(period)
        for rank, scales in enumerate(_scale_groups(periods)):
            for scale in scales if rank <= WEIGHTED_NEIGHBOUR_RANKS else scales[:1]:
                folds = [f for w in whites if (f := _fold_fast(w, scale)) is not None]
                if len(folds) < len(whites):
                    continue
                for mirrored in (False, True):
                    found = self._combine([f[:, ::-1] for f in folds] if mirrored else folds)
                    if found is not None:
                        return Detection(
                            payload=found[0],
                            key_version=self.key_version,
                            confidence=found[1],
                            scale=scale,
                            mirrored=mirrored,
                            details={"letterbox_removed": False, "frames_weighted": True},
                        )
        return None

    def _combine(self, folds: list[np.ndarray]) -> tuple[int, float] | None:
        scores, sigmas = [], []
        for folded in folds:
            corr = self._sync_correlation(folded)
            sigmas.append(float(corr.std()) + 1e-12)
            scores.append((corr - corr.mean()) / sigmas[-1])
        # Seeds: the equal-weight sum's peak and the strongest single frames' own peaks.
        seeds = [np.unravel_index(int(np.argmax(sum(scores))), scores[0].shape)]
        strongest = sorted(range(len(scores)), key=lambda i: -float(scores[i].max()))
        for i in strongest[:WEIGHTED_SEEDS]:
            seeds.append(np.unravel_index(int(np.argmax(scores[i])), scores[i].shape))
        tried: set[tuple[int, int]] = set()
        for shift in seeds:
            weights = np.zeros(len(scores))
            for _ in range(3):  # weights from the shift, the shift from the weighted sum
                weights = np.array([max(float(z[shift]), 0.0) for z in scores])
                if weights.sum() <= 0:
                    break
                combined = sum(w * z for w, z in zip(weights, scores, strict=True))
                shift = np.unravel_index(int(np.argmax(combined)), combined.shape)
            peak = (int(shift[0]), int(shift[1]))
            if weights.sum() <= 0 or peak in tried:
                continue
            tried.add(peak)
            folded = np.zeros_like(folds[0])
            for weight, fold_, sigma in zip(weights, folds, sigmas, strict=True):
                folded += weight / sigma * fold_
            corr = self._sync_correlation(folded)
            z = float((corr[peak] - corr.mean()) / (corr.std() + 1e-12))
            if z < WEIGHTED_MIN_Z:
                continue
            payload = self._decode_at(folded, peak)
            if payload is not None:
                return payload, z
        return None

    def _search(
        self, residual: np.ndarray, periods: list[float]
    ) -> tuple[int, float, float] | None:
        for rank, scales in enumerate(_scale_groups(periods)):
            # The group's first scale is the estimate; its neighbours are read for the two best
            # periods, and for the others only where the sync shows.
            found, z = self._read(residual, scales[0])
            if found is not None:
                return found, z, scales[0]
            if rank > 2 and z < SYNC_HINT_Z:
                continue
            for scale in scales[1:]:
                found, z = self._read(residual, scale)
                if found is not None:
                    return found, z, scale
        return None

    def _read(self, residual: np.ndarray, scale: float) -> tuple[int | None, float]:
        """The payload at `scale` (None if it does not verify), and the sync's z-score."""
        folded = fold(residual, scale)
        if folded is None:
            return None, 0.0
        peak, z = self._sync_peak(folded)
        if z < SYNC_MIN_Z:
            return None, z
        return self._decode_at(folded, peak), z

    def _decode(self, aligned: np.ndarray) -> int | None:
        cells = aligned.reshape(GRID, CELL, GRID, CELL).mean(axis=(1, 3))
        soft = np.bincount(
            self._patterns.slots.ravel(),
            weights=(cells * self._patterns.signs).ravel(),
            minlength=CODED,
        )
        bits = ecc.decode(soft / (np.std(soft) + 1e-12), PAYLOAD_BITS)
        serial, tag = _value(bits[:SERIAL_BITS]), _value(bits[SERIAL_BITS:])
        return (
            serial
            if hmac.compare_digest(
                tag.to_bytes(3, "big"), tag_of(self.key, serial).to_bytes(3, "big")
            )
            else None
        )


class UnbudgetedTileWatermarker(KeyedTileWatermarker):
    """What marked outputs before the picture-quality budget: the same tile, key and reads, at
    the full strength texture earns. Kept for those outputs (a share link's copy is re-marked
    with the algorithm its output was marked with); new outputs are marked with `NAME`."""

    name = UNBUDGETED_NAME
    max_power = None


register(NAME, KeyedTileWatermarker)
register(UNBUDGETED_NAME, UnbudgetedTileWatermarker)


# --- image processing shared by embedding and detection -----------------------------------------


def luma_of(frame: np.ndarray) -> np.ndarray:
    """Rec. 601 luma, 0-255, of one float RGB frame in [0, 1]."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) * np.float32(255.0)


def strength_map(frame: np.ndarray, max_power: float | None = MARK_MAX_POWER) -> np.ndarray:
    """Texture-adaptive strength (luma levels): more where detail hides it, less on flat areas
    and near black or white, where clipping and visibility bite."""
    return strength_of_luma(luma_of(frame), max_power)


def strength_of_luma(luma: np.ndarray, max_power: float | None = MARK_MAX_POWER) -> np.ndarray:
    """`strength_map` from luma (0-255): the mark is added to R, G and B alike, so it adds the
    same to luma. Within the frame's budget (`max_power`, the mark's mean square: the tile has
    unit RMS and does not follow the picture, so that is the strength's mean square)."""
    strength = texture_strength(luma)
    headroom = np.minimum(luma, np.float32(255.0) - luma)
    headroom *= np.float32(1 / 24.0)
    np.clip(headroom, np.float32(0.25), np.float32(1.0), out=headroom)
    strength *= headroom
    if max_power is None:
        return strength
    flat = strength.reshape(-1)
    power = float(np.dot(flat, flat)) / max(flat.size, 1)
    if power > max_power:
        strength *= np.float32(np.sqrt(max_power / power))
    return strength


def texture_strength(luma: np.ndarray) -> np.ndarray:
    """clip(FLAT + GAIN * local detail, FLAT, MAX): the strength texture earns, before the
    headroom near black and white. The embedder and the detector's weights both read it. In place
    in float32 (the detail is never negative, so the lower clip never bites): each numpy
    temporary of a frame's size cost as much as a blur."""
    detail = cv2.absdiff(luma, cv2.GaussianBlur(luma, (0, 0), 1.5))
    strength: np.ndarray = cv2.GaussianBlur(detail, (0, 0), 4.0)
    np.multiply(strength, np.float32(STRENGTH_GAIN), out=strength)
    np.add(strength, np.float32(STRENGTH_FLAT), out=strength)
    np.minimum(strength, np.float32(STRENGTH_MAX), out=strength)
    return strength


def whiten(image: np.ndarray) -> np.ndarray:
    """High-pass the picture away, even out the residual's local energy, and weigh each pixel as
    a matched filter would: by the strength the embedder gave it (`texture_strength`, read back
    from the suspect's own texture) over the local noise. Textured areas carry a stronger mark in
    stronger noise; the weights count both (what this gained on re-uploads is in
    docs/provenance.md)."""
    image = image.astype(np.float32)
    residual = image - cv2.GaussianBlur(image, (0, 0), 4.0)
    noise = np.sqrt(cv2.GaussianBlur(residual * residual, (0, 0), 6.0)) + 1.0
    normalized = np.clip(residual / noise, -3.0, 3.0)
    weight = texture_strength(image) / noise
    return normalized * (weight / weight.mean())


def _signed(dy: int, dx: int) -> tuple[int, int]:
    """A cyclic shift of the tile as the nearest signed offset (191 -> -1)."""
    return (dy + TILE // 2) % TILE - TILE // 2, (dx + TILE // 2) % TILE - TILE // 2


def _highpass(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    return image - cv2.GaussianBlur(image, (0, 0), 4.0)


def _rescaled(residual: np.ndarray, scale: float) -> np.ndarray | None:
    """A residual at `scale` (query px per embedded px) brought back to embedded size; None if
    too little is left (what `fold` and `_fold_fast` both fold)."""
    height, width = residual.shape
    size = (round(width / scale), round(height / scale))
    if min(size) < 40:
        return None
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return residual if scale == 1 else cv2.resize(residual, size, interpolation=interpolation)


def fold(residual: np.ndarray, scale: float) -> np.ndarray | None:
    """Bring a residual at `scale` (query px per embedded px) back to embedded size and sum it
    onto one TILE x TILE tile; None if too little is left."""
    image = _rescaled(residual, scale)
    if image is None:
        return None
    rows, cols = -(-image.shape[0] // TILE), -(-image.shape[1] // TILE)
    padded = np.zeros((rows * TILE, cols * TILE), dtype=np.float64)
    counts = np.zeros_like(padded)
    padded[: image.shape[0], : image.shape[1]] = image
    counts[: image.shape[0], : image.shape[1]] = 1.0
    total = padded.reshape(rows, TILE, cols, TILE).sum(axis=(0, 2))
    seen = counts.reshape(rows, TILE, cols, TILE).sum(axis=(0, 2))
    return total / np.maximum(seen, 1.0) * np.sqrt(seen)


def _fold_fast(residual: np.ndarray, scale: float) -> np.ndarray | None:
    """`fold` in float32 with the per-cell counts computed, not summed: the same tile up to
    float32 rounding, several times faster (the weighted search folds every frame it reads)."""
    image = _rescaled(residual, scale)
    if image is None:
        return None
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape
    rows, cols = -(-h // TILE), -(-w // TILE)
    padded = np.zeros((rows * TILE, cols * TILE), dtype=np.float32)
    padded[:h, :w] = image
    total = padded.reshape(rows, TILE, cols, TILE).sum(axis=(0, 2), dtype=np.float64)
    row_seen = np.bincount(np.arange(h) % TILE, minlength=TILE).astype(np.float64)
    col_seen = np.bincount(np.arange(w) % TILE, minlength=TILE).astype(np.float64)
    seen = np.outer(row_seen, col_seen)
    return total / np.maximum(seen, 1.0) * np.sqrt(seen)


def _scale_groups(periods: list[float]) -> Iterator[list[float]]:
    """Unscaled first (the common case costs one fold), then each period the autocorrelation
    shows (and its half and third: a short or small copy shows few repeats, so its strongest peak
    may be a multiple of the period), each with close neighbours."""
    yield [1.0]
    seen: list[float] = [1.0]
    for period in [*periods, *(p / 2 for p in periods), *(p / 3 for p in periods)]:
        base = period / TILE
        if not SCALE_RANGE[0] <= base <= SCALE_RANGE[1]:
            continue
        if any(abs(base / s - 1) < 0.0015 for s in seen):
            continue
        seen.append(base)
        yield [base * (1 + step) for step in (0.0, -0.002, 0.002, -0.004, 0.004, -0.007, 0.007)]


def estimate_periods(residual: np.ndarray, limit: int = 3) -> list[float]:
    """The tile's period in query pixels (best first), from the residual's 2-D autocorrelation:
    the tile's lattice puts sharp peaks at (p, 0), (0, p), (p, p) and (p, -p); the picture rarely
    does at all four. Peaks are measured above their surroundings and scored over harmonics, so a
    multiple or half of the period loses to it."""
    height, width = residual.shape
    spectrum = np.fft.rfft2(residual, s=(2 * height, 2 * width))
    auto = np.fft.irfft2(np.abs(spectrum) ** 2, s=(2 * height, 2 * width)).astype(np.float32)
    rows = np.maximum(height - np.abs(np.fft.fftfreq(2 * height, 1 / (2 * height))), 1.0)
    cols = np.maximum(width - np.abs(np.fft.fftfreq(2 * width, 1 / (2 * width))), 1.0)
    auto /= np.outer(rows, cols).astype(np.float32)
    auto /= auto[0, 0] + 1e-12
    centred = np.fft.fftshift(auto)
    peaks = np.fft.ifftshift(centred - cv2.blur(centred, (9, 9)))
    low = int(TILE * SCALE_RANGE[0])
    high = int(min(TILE * SCALE_RANGE[1], 0.8 * max(height, width)))
    scores = [(_lattice_score(peaks, period, height, width), period) for period in range(low, high)]
    scores.sort(reverse=True)
    periods: list[float] = []
    for score, period in scores:
        if score <= 0:
            break
        if all(abs(period - p) > 3 for p in periods):
            periods.append(_refine(peaks, period, height, width))
        if len(periods) == limit:
            break
    return periods


def _lattice_score(peaks: np.ndarray, period: int, height: int, width: int) -> float:
    values = []
    for k in range(1, 4):
        lag = k * period
        for dy, dx in ((0, lag), (lag, 0), (lag, lag), (lag, -lag)):
            if dy > 0.7 * height or abs(dx) > 0.7 * width:
                continue
            rows = np.arange(dy - 1, dy + 2) % peaks.shape[0]
            cols = np.arange(dx - 1, dx + 2) % peaks.shape[1]
            values.append(float(peaks[np.ix_(rows, cols)].max()))
    return float(np.mean(values)) if len(values) >= 2 else 0.0


def _refine(peaks: np.ndarray, period: int, height: int, width: int) -> float:
    """Sub-pixel period from the farthest horizontal and vertical harmonics (parabolic fits)."""
    estimates = []
    for line, size in ((peaks[0, :], width), (peaks[:, 0], height)):
        for k in range(3, 0, -1):
            centre = k * period
            if centre + 3 >= int(0.8 * size):
                continue
            i = int(np.argmax(line[centre - 2 : centre + 3])) + centre - 2
            left, mid, right = line[i - 1], line[i], line[i + 1]
            denominator = left - 2 * mid + right
            offset = 0.5 * (left - right) / denominator if denominator < 0 else 0.0
            estimates.append((i + offset) / k)
            break
    return float(np.mean(estimates)) if estimates else float(period)


def _variants(image: np.ndarray) -> Iterator[tuple[np.ndarray, bool]]:
    yield image, False
    trimmed = remove_letterbox(image)
    if trimmed.shape != image.shape:
        yield trimmed, True


def remove_letterbox(image: np.ndarray, flat: float = 3.0) -> np.ndarray:
    """Drop uniform bars (letterbox or pillarbox) from the edges."""
    return image[picture_bounds(image, flat)]


def picture_bounds(image: np.ndarray, flat: float = 3.0) -> tuple[slice, slice]:
    """Rows and columns of `image` (2-D) inside its uniform bars, if it has any; all of it if
    nothing in it varies."""
    rows = np.flatnonzero(image.std(axis=1) > flat)
    cols = np.flatnonzero(image.std(axis=0) > flat)
    if len(rows) == 0 or len(cols) == 0:
        return slice(None), slice(None)
    return slice(rows[0] + 2, rows[-1] - 1), slice(cols[0] + 2, cols[-1] - 1)
