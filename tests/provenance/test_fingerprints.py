"""The PDQ index on its own: near copies are found, unrelated frames are not."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from provenance.fingerprints import MATCH_DISTANCE, FingerprintIndex, frame_hashes
from provenance.indexing import fingerprint_index_current
from provenance.models import OutputFingerprint
from tests.factories import make_output
from tests.provenance.conftest import textured_clip, write_clip
from tests.provenance.test_informed import reupload


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


@pytest.mark.django_db
def test_the_index_forgets_an_output_that_is_gone_even_when_newer_ones_remain(tester, outputs_dir):
    """The in-memory index is topped up by row id; a row that vanished below its last one (an
    output deleted, a rolled-back transaction) must make it start again, or its hashes would
    keep naming an output that no longer exists and crowd real leads out."""
    rng = np.random.default_rng(2)
    gone, kept = make_output(tester), make_output(tester)
    picture = _hash(rng.integers(0, 2, 256))
    for output in (gone, kept):
        OutputFingerprint.objects.create(output=output, hashes=picture)
    assert {lead.output_id for lead in fingerprint_index_current().search([picture])} == {
        str(gone.id),
        str(kept.id),
    }

    gone.delete()  # cascades to its fingerprint row, which is not the last one

    leads = fingerprint_index_current().search([picture])
    assert [lead.output_id for lead in leads] == [str(kept.id)]


def test_an_index_started_again_searches_its_new_hashes_not_the_old_ones():
    """Started again with as many hashes as before (another test's output, a restored backup),
    the index must not answer from the copy of the old hashes it keeps for searching."""
    rng = np.random.default_rng(3)
    old, new = _hash(rng.integers(0, 2, 256)), _hash(rng.integers(0, 2, 256))
    index = FingerprintIndex()
    index.add("old", [old])
    assert [lead.output_id for lead in index.search([old])] == ["old"]

    index.reset()
    index.add("new", [new])

    assert [lead.output_id for lead in index.search([new])] == ["new"]
    assert index.search([old]) == []


def test_a_letterboxed_copy_is_a_lead_of_its_output(tmp_path):
    """A copy padded to 9:16 for a phone is mostly bars; hashed whole, it matched nothing (the
    bench's letterbox attack had no lead before the bars were cut off)."""
    output = write_clip(textured_clip(seed=1), tmp_path)
    index = FingerprintIndex()
    index.add("output", [digest for _, digest, _ in frame_hashes(output)])
    index.add(
        "other",
        [
            digest
            for _, digest, _ in frame_hashes(write_clip(textured_clip(seed=2), tmp_path, "o.mp4"))
        ],
    )
    letterboxed = reupload(
        output, "letterboxed.mp4", before="pad=iw:trunc(iw*16/9/2)*2:0:(oh-ih)/2"
    )

    leads = index.search([digest for _, digest, _ in frame_hashes(letterboxed)])

    assert [lead.output_id for lead in leads] == ["output"]
    assert leads[0].frames_matched >= 3


def test_a_still_image_is_hashed_and_is_a_lead_of_its_output(tmp_path):
    """A screenshot or a JPEG has no frame rate: sampled every 0.25 s by ffmpeg's fps filter it
    gave no frame at all, so a leaked still had no lead (and no read against one)."""
    output = write_clip(textured_clip(seed=1), tmp_path)
    index = FingerprintIndex()
    index.add("output", [digest for _, digest, _ in frame_hashes(output)])
    still = tmp_path / "still.jpg"
    subprocess.run(
        [
            *(imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(output)),
            *("-vf", "select=eq(n\\,4)", "-frames:v", "1", "-q:v", "8", str(still)),
        ],
        check=True,
    )

    hashes = frame_hashes(still)

    assert len(hashes) == 1
    assert [lead.output_id for lead in index.search([hashes[0][1]])] == ["output"]
