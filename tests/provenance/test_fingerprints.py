"""The PDQ index on its own: near copies are found, unrelated frames are not."""

from __future__ import annotations

import numpy as np

from provenance.fingerprints import MATCH_DISTANCE, FingerprintIndex


def _hash(bits: np.ndarray) -> bytes:
    return np.packbits(bits.astype(np.uint8)).tobytes()


def test_a_hash_within_the_threshold_is_a_lead_and_one_beyond_is_not():
    rng = np.random.default_rng(0)
    near, far = rng.integers(0, 2, 256), rng.integers(0, 2, 256)
    index = FingerprintIndex()
    index.add("near", [_hash(near)])
    index.add("far", [_hash(far)])
    query = near.copy()
    query[:MATCH_DISTANCE] ^= 1  # exactly at the threshold

    leads = index.search([_hash(query)])

    assert [(lead.output_id, lead.distance) for lead in leads] == [("near", MATCH_DISTANCE)]
    query[MATCH_DISTANCE] ^= 1
    assert index.search([_hash(query)]) == []


def test_leads_are_ordered_by_frames_matched_then_distance():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, (2, 256)), rng.integers(0, 2, (2, 256))
    index = FingerprintIndex()
    index.add("one-frame", [_hash(a[0])])
    index.add("two-frames", [_hash(b[0]), _hash(b[1])])

    leads = index.search([_hash(a[0]), _hash(b[0]), _hash(b[1])])

    assert [lead.output_id for lead in leads] == ["two-frames", "one-frame"]
    assert leads[0].frames_matched == 2
