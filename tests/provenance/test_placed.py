"""Placed leads: a cropped copy is placed on the grid its mark was embedded on (by the sync alone),
matched on grid thumbnails against outputs, and read against the output it was cut from.

PDQ hashes the whole frame, so a crop finds no PDQ lead; these tests use a 768 x 480 clip (the
bench's outputs are 832 x 480): after a 15 % crop and a 60 % downscale, the small 384 x 256 test
clip keeps too little of the sync to place. The output is the cat photograph (z 7.5 here): the
astronaut, as busy but smoother, placed at z 6.6 in 9 frames before the picture-quality budget
took 1.4 dB off its mark, and under 6 after it. Rates on realistic outputs (832 x 480, 2 s) are
the bench's to measure: docs/provenance.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import storages
from django.urls import reverse

from generation.marking.base import Placement
from generation.marking.media import read_luma
from generation.marking.tile import TILE, KeyedTileWatermarker
from generation.marks import watermarker
from provenance.indexing import fingerprint_index_current, fingerprints_index
from provenance.models import OutputFingerprint, Trace
from provenance.thumbnails import (
    BLOCK,
    ThumbnailIndex,
    output_thumbnails,
    suspect_thumbnails,
)
from review.models import Output
from tests.factories import make_job, make_output
from tests.provenance.conftest import textured_clip, trace_command, write_clip
from tests.provenance.test_informed import reupload

pytestmark = pytest.mark.timeout(180)

KEY = b"k" * 32
SERIAL = 0x12_3456_789A
SIZE = (480, 768)
PHOTO, OTHERS = 2, (0, 1, 3)  # textured_clip seeds: the output's photograph, unrelated ones
# The crop's offset in the output: x = 10 % of 768, y = 5 % of 480.
CROP = "crop=trunc(iw*0.85/2)*2:trunc(ih*0.85/2)*2:iw*0.1:ih*0.05"
CROP_AT = (24, 77)  # (y, x), ffmpeg rounding 76.8 up


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """A marked output, a look-alike (the same photograph 64 px further along), unrelated
    outputs, and copies of the output cropped and re-uploaded "social"-style."""
    folder = tmp_path_factory.mktemp("placed")
    marker = KeyedTileWatermarker(KEY, 1)
    frames = textured_clip(PHOTO, size=SIZE)
    marker.embed(frames, SERIAL)
    found = {"output": write_clip(frames, folder, "output.mp4")}
    wide = textured_clip(PHOTO, size=(SIZE[0], SIZE[1] + 64))
    found["look_alike"] = write_clip(wide[:, :, 64:].copy(), folder, "look-alike.mp4")
    for seed in OTHERS:
        found[f"unrelated_{seed}"] = write_clip(
            textured_clip(seed, size=SIZE), folder, f"u{seed}.mp4"
        )
    found["clean"] = write_clip(textured_clip(PHOTO, size=SIZE), folder, "clean.mp4")
    found["crop"] = reupload(found["output"], "crop.mp4", before=CROP)
    found["crop_mirror"] = reupload(found["output"], "crop-mirror.mp4", before=f"{CROP},hflip")
    found["clean_crop"] = reupload(found["clean"], "clean-crop.mp4", before=CROP)
    return found


def _index(clips: dict[str, Path]) -> ThumbnailIndex:
    index = ThumbnailIndex()
    first, *others = (f"unrelated_{seed}" for seed in OTHERS)
    for name in ("look_alike", first, "output", *others):
        index.add(name, output_thumbnails(clips[name]))
    return index


def _close(shift: tuple[int, int], expected: tuple[int, int]) -> bool:
    return all(
        min((a - b) % TILE, (b - a) % TILE) <= 3 for a, b in zip(shift, expected, strict=True)
    )


def test_a_cropped_downscaled_copy_is_placed_where_it_was_cut(clips):
    suspect = read_luma(clips["crop"])
    marker = KeyedTileWatermarker(KEY, 1)

    placement = marker.locate(suspect)

    assert marker.detect(suspect) is None  # what placing is for: the blind read misses it
    assert placement is not None and not placement.mirrored
    assert placement.scale == pytest.approx(0.6, abs=0.01)
    assert _close(placement.shift, CROP_AT), placement
    assert placement.period == TILE


def test_a_mirrored_crop_is_placed_mirrored_back(clips):
    placement = KeyedTileWatermarker(KEY, 1).locate(read_luma(clips["crop_mirror"]))

    assert placement is not None and placement.mirrored
    assert _close(placement.shift, CROP_AT), placement


def test_an_unmarked_copy_or_another_key_is_not_placed(clips):
    assert KeyedTileWatermarker(KEY, 1).locate(read_luma(clips["clean_crop"])) is None
    assert KeyedTileWatermarker(b"z" * 32, 1).locate(read_luma(clips["crop"])) is None


def test_a_placed_crop_finds_the_output_it_was_cut_from_before_its_look_alike(clips):
    placement = KeyedTileWatermarker(KEY, 1).locate(read_luma(clips["crop"]))
    assert placement is not None
    queries, origin = suspect_thumbnails(clips["crop"], placement)

    leads = _index(clips).search(queries, origin, placement.period)

    assert leads and leads[0].output_id == "output", leads
    assert leads[0].score > 0.95 and leads[0].frames_matched == len(queries)
    assert not any(lead.output_id.startswith("unrelated") for lead in leads)
    look_alike = [lead.score for lead in leads if lead.output_id == "look_alike"]
    assert all(score < leads[0].score for score in look_alike)


def test_a_crop_placed_on_the_wrong_grid_offset_finds_no_lead(clips):
    """Only block offsets that agree with the placement are compared: half a period off (3
    blocks), the suspect's blocks meet other parts of the picture."""
    placement = KeyedTileWatermarker(KEY, 1).locate(read_luma(clips["crop"]))
    assert placement is not None
    half = TILE // 2
    wrong = Placement(
        placement.scale,
        placement.mirrored,
        ((placement.shift[0] + half) % TILE, placement.shift[1]),
        placement.period,
        placement.confidence,
    )
    queries, origin = suspect_thumbnails(clips["crop"], wrong)

    assert _index(clips).search(queries, origin, wrong.period) == []


def test_flat_tiny_or_missing_thumbnails_find_nothing(clips):
    index = _index(clips)
    flat = [np.full((8, 12), 128.0, dtype=np.float32)] * 3

    assert index.search(flat, (0, 0), TILE) == []
    assert index.search([np.zeros((2, 12), dtype=np.float32)], (0, 0), TILE) == []
    assert index.search([], (0, 0), TILE) == []
    assert ThumbnailIndex().search(flat, (0, 0), TILE) == []


def test_outputs_added_after_a_search_are_searched_next_time(clips):
    placement = KeyedTileWatermarker(KEY, 1).locate(read_luma(clips["crop"]))
    assert placement is not None
    queries, origin = suspect_thumbnails(clips["crop"], placement)
    index = ThumbnailIndex()
    index.add("unrelated_1", output_thumbnails(clips["unrelated_1"]))
    assert index.search(queries, origin, TILE) == []

    index.add("output", output_thumbnails(clips["output"]))

    assert [lead.output_id for lead in index.search(queries, origin, TILE)] == ["output"]


def test_an_outputs_thumbnails_are_block_means_of_a_frame_every_half_second(clips):
    thumbnails = output_thumbnails(clips["output"])  # 9 frames at 8 fps: at 0, 0.5 and 1 s
    frames = read_luma(clips["output"])

    assert thumbnails.shape == (3, SIZE[0] // BLOCK, SIZE[1] // BLOCK)
    assert thumbnails.dtype == np.uint8
    for thumbnail, frame in zip(thumbnails, frames[::4], strict=True):
        block = frame[BLOCK : 2 * BLOCK, 2 * BLOCK : 3 * BLOCK].mean()
        assert abs(float(thumbnail[1, 2]) - block) <= 0.5


# --- through the database and `manage.py trace` ------------------------------------------------


@pytest.fixture
def cropped_output(tester, outputs_dir) -> Output:
    """The marked clip stored as an output, marked with the deployment's key."""
    folder = Path(outputs_dir, "placed")
    folder.mkdir()
    frames = textured_clip(PHOTO, size=SIZE)
    watermarker().embed(frames, SERIAL)
    video = write_clip(frames, folder)
    return Output.objects.create(
        job=make_job(tester, prompt="a cat, cropped"),
        video_name="placed/clip.mp4",
        poster_name="placed/clip.mp4.jpg",
        sha256="0" * 64,
        size_bytes=video.stat().st_size,
        width=SIZE[1],
        height=SIZE[0],
        num_frames=9,
        fps=8,
        mark_serial=SERIAL,
        mark_algorithm=watermarker().name,
        mark_key_version=watermarker().key_version,
    )


@pytest.mark.django_db
def test_a_cropped_reupload_is_named_through_its_placed_lead(cropped_output, tester, admin, client):
    delivered = Path(storages["outputs"].path(cropped_output.video_name))
    suspect = reupload(delivered, "reupload.mp4", before=CROP)

    report = trace_command(suspect)

    assert report["state"] == "done"
    mark = report["watermark"]
    assert mark["found"] and mark["read"] == "placed" and mark["informed"], report
    assert mark["serial"] == SERIAL
    assert report["identified"]["output"] == str(cropped_output.id)
    assert report["identified"]["tester"] == tester.email
    placed = report["placed_leads"]
    assert "not proof" in placed["note"] and placed["scale"] == pytest.approx(0.6, abs=0.01)
    assert [lead["output"] for lead in placed["leads"]] == [str(cropped_output.id)]
    assert report["fingerprint_leads"]["leads"] == []  # what PDQ makes of a crop
    # The result page lists the placed lead beside the (empty) fingerprint leads.
    client.force_login(admin)
    trace = Trace.objects.get()
    page = client.get(reverse("staff_trace", kwargs={"trace_id": trace.id}))
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="placed-leads"' in html
    assert str(cropped_output.id) in html and "a cat, cropped" in html


@pytest.mark.django_db
def test_an_unmarked_crop_of_the_same_picture_names_nobody(cropped_output, clips):
    report = trace_command(clips["clean_crop"])

    assert report["state"] == "done"
    assert report["watermark"] == {"found": False} and report["identified"] is None
    assert "placed_leads" not in report  # no sync: nothing to place


@pytest.mark.django_db
def test_fingerprint_rows_from_before_thumbnails_are_written_again_and_reloaded(
    tester, outputs_dir, clips
):
    output = make_output(tester)
    Path(outputs_dir, output.video_name).write_bytes(clips["output"].read_bytes())
    old = OutputFingerprint.objects.create(output=output, hashes=b"")
    assert fingerprint_index_current().thumbnails.output_ids == []

    assert fingerprints_index() == 1

    row = OutputFingerprint.objects.get(output=output)
    assert row.pk != old.pk and row.thumbnails_shape == [3, SIZE[0] // BLOCK, SIZE[1] // BLOCK]
    assert len(bytes(row.hashes)) > 0
    assert fingerprint_index_current().thumbnails.output_ids == [str(output.id)]
    assert fingerprints_index() == 0  # written once
