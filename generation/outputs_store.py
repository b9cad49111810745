"""A finished run's files into the private "outputs" storage, and out again.

Only Django's storage API (`save`, `delete`, `open`): the same code writes to the local folder (the
embedded default) and to an S3 bucket (`VERNISSAGE_STORAGE=s3`), so no host needs a disk another
host can see. The video's SHA-256 is computed here, once, from the scratch file: review verifies the
stored file against it (`output_approve`), and no view ever hashes a file again.

Files come before rows: the worker stores, then commits its output row, and removes the files
itself if that commit fails (`output_files_discard`); the dispatcher's sweep removes what a dead
worker could not (`review.services.files`). Storage failures of any backend surface as `OSError`
(EIO for an object store), which the worker turns into a reason a tester can read.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

logger = logging.getLogger(__name__)

# What a storage backend raises when it fails: a disk's OSError, an object store's client errors.
STORAGE_ERRORS: tuple[type[Exception], ...] = (OSError, BotoCoreError, ClientError)
_CHUNK = 1 << 20


def outputs_storage() -> Storage:
    return storages["outputs"]


def file_sha256(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and size, read in chunks (a long video never sits in memory whole)."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
    return digest.hexdigest(), path.stat().st_size


def output_files_store(*, folder: str, video: Path, poster: Path) -> dict[str, Any]:
    """Save a run's video and poster under `folder`; returns the fields its output row records
    (the names the storage chose, the video's hash and size). All or nothing: on a failure the
    file already saved is removed and the error raised as an OSError."""
    sha256, size = file_sha256(video)
    storage, saved = outputs_storage(), []
    try:
        for path in (video, poster):
            with path.open("rb") as handle:
                saved.append(storage.save(f"{folder}/{path.name}", File(handle, name=path.name)))
        _make_durable(storage, saved)
    except STORAGE_ERRORS as exc:
        output_files_discard(names=saved)  # a half-stored run must not stay behind
        raise as_os_error(exc) from exc
    video_name, poster_name = saved
    return {
        "video_name": video_name,
        "poster_name": poster_name,
        "sha256": sha256,
        "size_bytes": size,
    }


def output_files_discard(*, names: Iterable[str]) -> None:
    """Remove a run's files (a missing one is no error), and on a disk their folders if nothing
    else is left in them. A file that cannot be removed now is left to the output sweeper."""
    storage, names = outputs_storage(), list(names)
    for name in names:
        try:
            storage.delete(name)
        except STORAGE_ERRORS:
            logger.warning("Could not remove %s; the output sweeper will", name)
    if isinstance(storage, FileSystemStorage):  # an object store has no folders to leave behind
        for name in names[:1]:
            _remove_empty_folders(Path(storage.path(name)).parent)


@contextmanager
def output_file_local(name: str) -> Iterator[Path]:
    """A local path to a stored file for tools that read files (ffmpeg): the file itself on a
    disk, a scratch copy (streamed in chunks, removed on leaving) from an object store."""
    storage = outputs_storage()
    if isinstance(storage, FileSystemStorage):
        yield Path(storage.path(name))
        return
    with tempfile.TemporaryDirectory(prefix="vernissage-read-") as scratch:
        copy = Path(scratch, PurePosixPath(name).name)
        try:
            with storage.open(name, "rb") as source, copy.open("wb") as target:
                shutil.copyfileobj(source, target, _CHUNK)
        except STORAGE_ERRORS as exc:
            raise as_os_error(exc) from exc
        yield copy


def as_os_error(exc: BaseException) -> OSError:
    if isinstance(exc, OSError):
        return exc
    return OSError(errno.EIO, f"object storage failed: {type(exc).__name__}")


def _make_durable(storage: Storage, names: list[str]) -> None:
    """On a disk, flush the files and the folders that name them before the row that points at
    them is committed (a succeeded job survives a power cut with its video). An object store has
    the object durably once its PUT returned."""
    if not isinstance(storage, FileSystemStorage):
        return
    paths = [Path(storage.path(name)) for name in names]
    folder = paths[0].parent
    for path in [*paths, folder, folder.parent, folder.parent.parent]:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _remove_empty_folders(attempt_folder: Path) -> None:
    for folder in (attempt_folder, attempt_folder.parent):
        try:
            folder.rmdir()
        except OSError:
            break  # not empty: another attempt's files live there
