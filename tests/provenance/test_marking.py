"""The keyed watermark on its own: round trip through H.264, refusals, and the code under it."""

from __future__ import annotations

import numpy as np
import pytest

from generation.marking import base, ecc
from generation.marking.media import read_luma
from generation.marking.tile import (
    MARK_MAX_POWER,
    NAME,
    STRENGTH_FLAT,
    UNBUDGETED_NAME,
    KeyedTileWatermarker,
    luma_of,
    strength_of_luma,
)
from tests.provenance.conftest import textured_clip, write_clip

KEY, OTHER_KEY = b"k" * 32, b"z" * 32
SERIAL = 0x12_3456_789A
LINK_SERIAL = (1 << 39) | 0x55_1234


def _marked(clip_dir, serial: int = SERIAL, key: bytes = KEY):
    frames = textured_clip()
    KeyedTileWatermarker(key, 1).embed(frames, serial)
    return write_clip(frames, clip_dir)


def test_a_marked_clip_names_its_serial_after_h264(clip_dir):
    video = _marked(clip_dir)

    found = KeyedTileWatermarker(KEY, 1).detect(read_luma(video))

    assert found is not None and found.payload == SERIAL and found.key_version == 1


def test_a_mirrored_copy_still_names_its_serial(clip_dir):
    frames = textured_clip()
    KeyedTileWatermarker(KEY, 1).embed(frames, SERIAL)
    video = write_clip(np.ascontiguousarray(frames[:, :, ::-1]), clip_dir)

    found = KeyedTileWatermarker(KEY, 1).detect(read_luma(video))

    assert found is not None and found.payload == SERIAL and found.mirrored


def test_another_key_finds_nothing(clip_dir):
    video = _marked(clip_dir)

    assert KeyedTileWatermarker(OTHER_KEY, 1).detect(read_luma(video)) is None


def test_a_clean_clip_names_nobody(clip_dir):
    video = write_clip(textured_clip(seed=3), clip_dir)

    assert KeyedTileWatermarker(KEY, 1).detect(read_luma(video)) is None


@pytest.mark.parametrize("seed", range(4))
def test_no_frame_falls_under_40_db(seed):
    """The texture-adaptive strength alone gave these busy 384 px photographs 37.7-39.9 dB; the
    budget (`MARK_MAX_POWER`) scales a frame's mark down to fit, and no further."""
    frames = textured_clip(seed)
    clean = np.round(frames * 255)
    KeyedTileWatermarker(KEY, 1).embed(frames, SERIAL)

    mse = np.mean((np.round(frames * 255) - clean) ** 2, axis=(1, 2, 3))
    psnr = 10 * np.log10(255**2 / mse)

    assert psnr.min() >= 40.0
    assert psnr.max() < 40.6


def test_the_budget_leaves_a_quiet_frame_its_full_strength():
    luma = np.full((192, 192), 128.0, np.float32)
    luma[:, 96:] = 140.0  # one edge, nothing else: the floor's strength almost everywhere

    strength = strength_of_luma(luma)

    assert np.mean(strength**2) < MARK_MAX_POWER
    assert np.median(strength) == pytest.approx(STRENGTH_FLAT)


def _shares(marker, clean: np.ndarray, frames: np.ndarray, *payloads: int) -> list[float]:
    """How much of each payload's mark (its data, without the shared sync) frame 0 carries. Two
    payloads' data patterns are not quite orthogonal: one payload alone reads -0.03 to -0.06 of
    another (seeds 0-3)."""
    luma = luma_of(clean[0])
    difference = luma_of(frames[0]) - luma
    patterns = [marker.pattern(luma, payload, data_only=True) for payload in payloads]
    return [float(np.sum(difference * p) / np.sum(p * p)) for p in patterns]


@pytest.mark.parametrize("algorithm", [NAME, UNBUDGETED_NAME])
def test_a_share_copy_is_re_marked_at_the_strength_its_output_was_marked_with(algorithm):
    """An output marked before the budget (keyed-tile-v1) keeps that algorithm's name, so its
    share links' copies lose all of the output's mark and carry all of the link's."""
    marker = base.algorithm(algorithm, key=KEY, key_version=1)
    clean = textured_clip()
    frames = marker.embed(clean.copy(), SERIAL)

    marker.remark(frames, old=SERIAL, new=LINK_SERIAL)

    old, new = _shares(marker, clean, frames, SERIAL, LINK_SERIAL)
    assert abs(old) < 0.1 and new > 0.95  # v1 or v2 alike: -0.07 to -0.05 and 0.99-1.0


def test_re_marking_at_another_strength_would_leave_the_old_serial_behind():
    """Why keyed-tile-v1 stays registered: re-marked with the budget, an output marked without it
    would keep a part of its own serial's mark under the link's."""
    clean = textured_clip()
    frames = base.algorithm(UNBUDGETED_NAME, key=KEY, key_version=1).embed(clean.copy(), SERIAL)

    base.algorithm(NAME, key=KEY, key_version=1).remark(frames, old=SERIAL, new=LINK_SERIAL)

    unbudgeted = base.algorithm(UNBUDGETED_NAME, key=KEY, key_version=1)
    old, _ = _shares(unbudgeted, clean, frames, SERIAL, LINK_SERIAL)
    assert old > 0.15  # 0.195 (and the link's mark at 0.75)


def test_a_payload_too_large_for_the_serial_is_refused():
    with pytest.raises(ValueError, match="40 bits"):
        KeyedTileWatermarker(KEY, 1).tile(1 << 40)


def test_the_code_corrects_noisy_symbols():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, 64)
    noisy = ecc.encode(bits) + rng.normal(0, 0.6, ecc.coded_length(64))

    assert (ecc.decode(noisy, 64) == bits).all()
