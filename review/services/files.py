"""Output files without a row: the sweeper that keeps storage and the database in step.

A worker writes a run's files into storage, then commits its output row. If it dies (or the
database fails) in between, the files have no row. `job_finalize` removes them itself when it can;
this sweep removes what a dead process could not, once they are older than any finalize can take.
A row never exists without its files: files always come first.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from django.core.files.storage import Storage, storages
from django.utils import timezone

from review.models import Output

logger = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)


def _attempt_folders(storage: Storage) -> list[str]:
    """`<owner>/<job>/<attempt>` folders, as the worker lays them out."""
    folders = []
    for owner in storage.listdir("")[0]:
        for job in storage.listdir(owner)[0]:
            folders += [
                f"{owner}/{job}/{attempt}" for attempt in storage.listdir(f"{owner}/{job}")[0]
            ]
    return folders


def output_files_registered(*, job_id: UUID, video_name: str) -> bool:
    """Does a committed output row name this file? (The worker asks after a commit whose outcome
    it could not see: a row must never lose its file.)"""
    return Output.objects.filter(job_id=job_id, video_name=video_name).exists()


def output_files_sweep(*, grace: timedelta = ORPHAN_GRACE) -> int:
    """Delete files older than `grace` that no output row names. Returns how many."""
    storage = storages["outputs"]
    try:
        folders = _attempt_folders(storage)
    except FileNotFoundError:  # a disk's outputs folder not made yet (a bucket always lists)
        return 0
    kept = set(Output.objects.values_list("video_name", flat=True))
    kept |= set(Output.objects.values_list("poster_name", flat=True))
    cutoff, deleted = timezone.now() - grace, 0
    for folder in folders:
        for name in (f"{folder}/{file}" for file in storage.listdir(folder)[1]):
            if name not in kept and storage.get_modified_time(name) < cutoff:
                storage.delete(name)
                deleted += 1
    if deleted:
        logger.warning(
            "Removed %d output files that no row names (an interrupted finalize)", deleted
        )
    return deleted
