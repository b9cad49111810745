"""Share links serve their own marked copy: a clip leaked from a link names the link."""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.urls import reverse

from generation.marks import is_share_link_serial, mark_frames
from review.models import Output, ShareLink
from review.services import share_link_create
from tests.factories import make_job
from tests.provenance.conftest import textured_clip, write_clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(tester, outputs_dir) -> Output:
    frames, mark = mark_frames(textured_clip(seed=7))
    folder = Path(outputs_dir, "approved")
    folder.mkdir()
    video = write_clip(frames, folder)
    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    return Output.objects.create(
        job=make_job(tester, prompt="a kite over dunes"),
        video_name="approved/clip.mp4",
        poster_name="approved/clip.mp4.jpg",
        sha256=digest,
        approved_sha256=digest,
        size_bytes=video.stat().st_size,
        width=384,
        height=256,
        num_frames=9,
        fps=8,
        state=Output.State.APPROVED,
        **mark.as_output_fields(),
    )


def _trace(path: Path) -> dict:
    out = StringIO()
    call_command("trace", str(path), stdout=out)
    return json.loads(out.getvalue())


def test_a_clip_leaked_from_a_share_link_names_the_link(client, tester, approved):
    link = share_link_create(output=approved, by=tester)

    assert client.get(reverse("shared_page", kwargs={"token": link.token})).status_code == 200
    video = client.get(reverse("shared_video", kwargs={"token": link.token}))
    leaked = Path(storages["outputs"].path("leaked.mp4"))
    leaked.write_bytes(b"".join(video.streaming_content))

    link.refresh_from_db()
    report = _trace(leaked)
    assert is_share_link_serial(link.mark_serial) and link.marked_video_name
    assert report["watermark"]["serial"] == link.mark_serial
    assert report["identified"]["share_link"] == link.pk
    assert report["identified"]["output"] == str(approved.id)
    assert report["identified"]["share_links"][0]["views"] == 1


def test_the_copy_is_made_once_and_each_link_gets_its_own(client, tester, approved):
    first, second = (share_link_create(output=approved, by=tester) for _ in range(2))
    for link in (first, first, second):
        client.get(reverse("shared_video", kwargs={"token": link.token}))
    first.refresh_from_db()
    second.refresh_from_db()
    made = Path(storages["outputs"].path(first.marked_video_name)).stat().st_mtime_ns

    client.get(reverse("shared_page", kwargs={"token": first.token}))

    assert Path(storages["outputs"].path(first.marked_video_name)).stat().st_mtime_ns == made
    assert first.mark_serial != second.mark_serial
    assert ShareLink.objects.filter(mark_serial__isnull=False).count() == 2


def test_the_outputs_own_file_still_names_the_output(approved):
    report = _trace(Path(storages["outputs"].path(approved.video_name)))

    assert report["identified"]["share_link"] is None
    assert report["identified"]["serial"] == approved.mark_serial


def test_a_copy_that_cannot_be_made_still_serves_the_output(client, tester, approved):
    link = share_link_create(output=approved, by=tester)
    Path(storages["outputs"].path("shares")).write_text("not a folder")  # copies cannot be stored

    response = client.get(reverse("shared_video", kwargs={"token": link.token}))

    assert response.status_code == 200
    link.refresh_from_db()
    assert link.marked_video_name == ""


@pytest.mark.postgres_pass  # storage, not the database engine
def test_in_s3_a_links_copy_is_made_from_the_bucket_and_kept_there(
    client, tester, approved, outputs_dir, s3_outputs
):
    from django.core.files.base import ContentFile

    s3_outputs.save(
        approved.video_name, ContentFile((outputs_dir / approved.video_name).read_bytes())
    )
    (outputs_dir / approved.video_name).unlink()  # only the bucket has it now
    link = share_link_create(output=approved, by=tester)

    page = client.get(reverse("shared_page", kwargs={"token": link.token}))

    link.refresh_from_db()
    assert page.status_code == 200
    assert link.marked_video_name == f"shares/{link.pk}/video.mp4"
    assert s3_outputs.exists(link.marked_video_name)
    assert s3_outputs.exists(f"shares/{link.pk}/poster.jpg")
    assert f"/shares/{link.pk}/video.mp4?" in page.content.decode()  # its presigned URL
