"""Delivering output files: byte ranges streamed in chunks with their validators (the development
path), X-Accel-Redirect behind a proxy, presigned URLs from S3; the permission check the same in
every case, and no file hashed on a view."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from review.media import CHUNK_BYTES
from review.models import Output
from review.services import output_approve, share_link_create
from tests.factories import make_output

pytestmark = pytest.mark.timeout(60)


def _video_url(output: Output) -> str:
    return reverse("output_video", kwargs={"output_id": output.id})


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_range_past_the_end_is_416_with_the_size(client, tester, outputs_dir):
    output = make_output(tester)
    client.force_login(tester)

    response = client.get(_video_url(output), headers={"Range": f"bytes={output.size_bytes}-"})

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{output.size_bytes}"


def test_a_malformed_or_multiple_range_gets_the_whole_file(client, tester, outputs_dir):
    output = make_output(tester)
    client.force_login(tester)

    for header in ("bytes=9-3", "bytes=0-1,4-5", "items=0-1"):
        response = client.get(_video_url(output), headers={"Range": header})
        assert response.status_code == 200, header
        assert len(_body(response)) == output.size_bytes


def test_answers_carry_validators_and_if_range_decides_between_part_and_whole(
    client, tester, outputs_dir
):
    output = make_output(tester)
    client.force_login(tester)
    first = client.get(_video_url(output))
    etag, modified = first["ETag"], first["Last-Modified"]

    same = client.get(_video_url(output), headers={"Range": "bytes=0-9", "If-Range": etag})
    by_date = client.get(_video_url(output), headers={"Range": "bytes=0-9", "If-Range": modified})
    stale = client.get(_video_url(output), headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    cached = client.get(_video_url(output), headers={"If-None-Match": etag})

    assert etag.startswith('"') and modified.endswith("GMT")
    assert (same.status_code, len(_body(same))) == (206, 10)
    assert by_date.status_code == 206
    assert (stale.status_code, len(_body(stale))) == (200, output.size_bytes)
    assert cached.status_code == 304


def test_a_replaced_file_gets_a_new_etag(client, tester, outputs_dir):
    output = make_output(tester)
    client.force_login(tester)
    before = client.get(_video_url(output))["ETag"]
    (outputs_dir / output.video_name).write_bytes(b"another file")

    assert client.get(_video_url(output))["ETag"] != before


def test_a_large_range_is_streamed_in_bounded_chunks(client, tester, outputs_dir):
    output = make_output(tester)
    (outputs_dir / output.video_name).write_bytes(bytes(range(256)) * 2048)  # 512 KiB
    client.force_login(tester)

    response = client.get(_video_url(output), headers={"Range": "bytes=1000-400999"})
    chunks = list(response.streaming_content)

    assert response.status_code == 206 and response.streaming
    assert response["Content-Length"] == "400000"
    assert sum(map(len, chunks)) == 400000 and max(map(len, chunks)) <= CHUNK_BYTES
    assert b"".join(chunks)[:3] == bytes([1000 % 256, 1001 % 256, 1002 % 256])


def test_behind_a_proxy_the_answer_names_the_file_for_it_and_checks_the_same(
    client, tester, other_tester, outputs_dir, settings
):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/_outputs/"
    output = make_output(tester)

    client.force_login(other_tester)
    refused = client.get(_video_url(output))
    client.force_login(tester)
    response = client.get(_video_url(output))

    assert refused.status_code == 404 and "X-Accel-Redirect" not in refused
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/_outputs/{output.video_name}"
    assert response["Content-Type"] == "video/mp4"


def test_the_share_page_hashes_no_file_on_a_view(
    client, tester, reviewer, outputs_dir, monkeypatch
):
    link = share_link_create(
        output=output_approve(output=make_output(tester), by=reviewer), by=tester
    )

    def no_hashing(name):
        raise AssertionError(f"hashed {name} on a view")

    monkeypatch.setattr("review.services.moderation.file_sha256", no_hashing)

    assert client.get(reverse("shared_page", kwargs={"token": link.token})).status_code == 200


def test_a_share_link_whose_file_is_gone_says_no_longer_available(
    client, tester, reviewer, outputs_dir
):
    output = output_approve(output=make_output(tester), by=reviewer)
    link = share_link_create(output=output, by=tester)
    (outputs_dir / output.video_name).unlink()

    response = client.get(reverse("shared_page", kwargs={"token": link.token}))

    assert response.status_code == 404  # was a 500 (the file's size was read without a guard)
    assert "no longer available" in response.content.decode()
    output.refresh_from_db()
    assert output.state == Output.State.APPROVED  # nothing to requeue: there is no file to review


# --- S3 -----------------------------------------------------------------------------------------


def _in_s3(storage, output: Output, outputs_dir: Path) -> None:
    """Move a factory-made output's files into the bucket under the same names."""
    for name in (output.video_name, output.poster_name):
        assert storage.save(name, ContentFile((outputs_dir / name).read_bytes())) == name


@pytest.mark.postgres_pass  # storage, not the database engine
def test_with_s3_the_owner_is_sent_to_a_short_lived_presigned_url_that_plays_ranges(
    client, tester, other_tester, outputs_dir, s3_outputs, s3_server, settings
):
    output = make_output(tester)
    _in_s3(s3_outputs, output, outputs_dir)

    client.force_login(other_tester)
    refused = client.get(_video_url(output))
    client.force_login(tester)
    redirect = client.get(_video_url(output))
    location = redirect["Location"]
    request = urllib.request.Request(location, headers={"Range": "bytes=0-9"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as part:  # noqa: S310 (our loopback server)
        status, body, content_type = part.status, part.read(), part.headers["Content-Type"]

    assert refused.status_code == 404
    assert redirect.status_code == 302 and redirect["Cache-Control"] == "private, no-store"
    assert location.startswith(s3_server + "/") and "X-Amz-Signature=" in location
    assert f"X-Amz-Expires={settings.MEDIA_URL_TTL_SECONDS}" in location
    assert (status, body) == (206, (outputs_dir / output.video_name).read_bytes()[:10])
    assert content_type == "video/mp4"


@pytest.mark.postgres_pass  # storage, not the database engine
def test_with_s3_pages_embed_presigned_urls_and_the_share_page_hashes_nothing(
    client, tester, reviewer, outputs_dir, s3_outputs, s3_server, monkeypatch
):
    output = make_output(tester)
    _in_s3(s3_outputs, output, outputs_dir)
    output = output_approve(output=output, by=reviewer)  # hashes the file in the bucket: review
    link = share_link_create(output=output, by=tester)
    monkeypatch.setattr("review.services.moderation.file_sha256", lambda name: "never per view")

    client.force_login(tester)
    detail = client.get(reverse("output_detail", kwargs={"output_id": output.id}))
    client.logout()
    shared = client.get(reverse("shared_page", kwargs={"token": link.token}))

    for page in (detail, shared):
        assert page.status_code == 200
        assert f'src="{s3_server}/' in page.content.decode()
    assert urlsplit(s3_server).netloc in shared.content.decode()


@pytest.mark.postgres_pass  # storage, not the database engine
def test_with_s3_a_file_rewritten_after_approval_still_voids_it(
    client, tester, reviewer, outputs_dir, s3_outputs
):
    output = make_output(tester)
    _in_s3(s3_outputs, output, outputs_dir)
    output = output_approve(output=output, by=reviewer)
    link = share_link_create(output=output, by=tester)
    s3_outputs.delete(output.video_name)
    s3_outputs.save(output.video_name, ContentFile(b"tampered"))

    page = client.get(reverse("shared_page", kwargs={"token": link.token}))

    output.refresh_from_db()
    assert page.status_code == 404 and output.state == Output.State.PENDING
