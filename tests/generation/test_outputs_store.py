"""A run's files go into storage through Django's storage API, on a disk and in S3 alike: hashed
once, all or nothing, and removed again when the row that would name them is not committed."""

from __future__ import annotations

import errno
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from generation.models import Job
from generation.outputs_store import output_file_local, output_files_store
from generation.services import job_start, jobs_dispatch
from generation.worker import describe_failure, finalize_or_discard
from review.models import Output
from review.services import output_files_sweep
from tests.factories import make_job

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def scratch_files(tmp_path) -> tuple[Path, Path]:
    video, poster = tmp_path / "video.mp4", tmp_path / "poster.jpg"
    video.write_bytes(b"\x00mp4" * 100_000)
    poster.write_bytes(b"jpg")
    return video, poster


# S3 cases run on the PostgreSQL pass only: their outcome cannot depend on the database engine.
@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.postgres_pass)])
def storage(request, outputs_dir):
    """The outputs storage, once a folder and once a bucket on a real S3 server."""
    from django.core.files.storage import storages

    return request.getfixturevalue("s3_outputs") if request.param == "s3" else storages["outputs"]


def test_a_runs_files_are_stored_with_the_hash_taken_once(storage, scratch_files):
    video, poster = scratch_files

    fields = output_files_store(folder="7/job/1", video=video, poster=poster)

    assert fields == {
        "video_name": "7/job/1/video.mp4",
        "poster_name": "7/job/1/poster.jpg",
        "sha256": hashlib.sha256(video.read_bytes()).hexdigest(),
        "size_bytes": video.stat().st_size,
    }
    with storage.open(fields["video_name"], "rb") as stored:
        assert stored.read() == video.read_bytes()
    with output_file_local(fields["video_name"]) as local:
        assert local.read_bytes() == video.read_bytes()


def test_a_store_that_fails_halfway_leaves_nothing_and_reads_as_a_storage_failure(
    storage, scratch_files, monkeypatch
):
    video, poster = scratch_files
    real_save = type(storage)._save

    def save(self, name, content):
        if name.endswith("poster.jpg"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, name, content)

    monkeypatch.setattr(type(storage), "_save", save)

    with pytest.raises(OSError) as failure:
        output_files_store(folder="7/job/1", video=video, poster=poster)

    assert not storage.exists("7/job/1/video.mp4")
    assert "storage is full" in describe_failure(failure.value)


@pytest.mark.postgres_pass
def test_an_object_store_error_reads_as_a_storage_failure(s3_outputs, scratch_files, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    def unreachable(self, name, content):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr(type(s3_outputs), "_save", unreachable)

    with pytest.raises(OSError) as failure:
        output_files_store(folder="7/job/1", video=scratch_files[0], poster=scratch_files[1])

    assert "could not be saved: the server's storage failed" in describe_failure(failure.value)


def _running(owner) -> Job:
    make_job(owner)
    [job] = jobs_dispatch(model_name="demo")
    started = job_start(job_id=job.id, dispatch_id=job.dispatch_id, worker="w")
    assert started is not None
    return started


@pytest.mark.postgres_pass
def test_in_s3_a_failed_commit_removes_the_runs_files(
    tester, dispatched, s3_outputs, scratch_files, monkeypatch
):
    job = _running(tester)
    fields = {
        **output_files_store(
            folder=f"{tester.id}/{job.id}/1", video=scratch_files[0], poster=scratch_files[1]
        ),
        **{"width": 64, "height": 64, "num_frames": 9, "fps": 8},
    }

    def broken(**kwargs):
        raise ValueError("a bug while registering the output")

    monkeypatch.setattr("generation.worker.output_register", broken)

    with pytest.raises(ValueError):
        finalize_or_discard(job, fields, gpu_seconds=1.0)

    assert not s3_outputs.exists(fields["video_name"])
    assert not s3_outputs.exists(fields["poster_name"])
    assert not Output.objects.filter(job_id=job.id).exists()


@pytest.mark.postgres_pass
def test_in_s3_the_sweeper_removes_files_no_row_names(tester, s3_outputs):
    job = make_job(tester)
    s3_outputs.save(f"{tester.id}/{job.id}/1/video.mp4", ContentFile(b"orphan"))
    s3_outputs.save(f"{tester.id}/{job.id}/1/poster.jpg", ContentFile(b"orphan"))

    assert output_files_sweep(grace=timedelta(0)) == 2
    assert s3_outputs.listdir(f"{tester.id}/{job.id}/1") == ([], [])
