"""The fingerprint index's rows: computing them for outputs, and loading them into memory."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from django.core.files.storage import storages
from django.db import transaction

from provenance.fingerprints import FingerprintIndex, frame_hashes
from provenance.models import OutputFingerprint
from provenance.thumbnails import output_thumbnails
from review.models import Output

logger = logging.getLogger(__name__)


_INDEX = FingerprintIndex()


def fingerprints_index(*, limit: int = 200) -> int:
    """Fingerprint up to `limit` outputs that have no fingerprints yet, or only the PDQ hashes
    of before grid thumbnails existed (oldest first); returns how many."""
    pending = (
        Output.objects.exclude(
            id__in=OutputFingerprint.objects.filter(thumbnails__isnull=False).values("output_id")
        )
        .order_by("created_at")
        .only("id", "video_name")[:limit]
    )
    storage, done = storages["outputs"], 0
    for output in pending:
        path = Path(storage.path(output.video_name))
        try:
            found = frame_hashes(path)
            thumbnails = output_thumbnails(path)
        except (OSError, RuntimeError, StopIteration) as exc:
            logger.warning("No fingerprints for output %s: %s", output.id, exc)
            found, thumbnails = [], np.zeros((0, 0, 0), dtype=np.uint8)
        with transaction.atomic():
            # An old row is replaced, not updated: a new row is what each index loads.
            OutputFingerprint.objects.filter(output=output).delete()
            OutputFingerprint.objects.create(
                output=output,
                hashes=b"".join(h for _, h, _ in found),
                seconds=[t for t, _, _ in found],
                qualities=[q for _, _, q in found],
                thumbnails=thumbnails.tobytes(),
                thumbnails_shape=list(thumbnails.shape),
            )
        done += 1
    return done


def fingerprint_index_current() -> FingerprintIndex:
    """The process's index, topped up with rows written since it last looked."""
    with _INDEX.lock:
        if _INDEX.last_row and not _still_there(_INDEX):
            # Rows it holds went away (an output deleted, a rollback, a restored backup): any one
            # of them, not only the last, so no lead ever names an output that is gone.
            _INDEX.reset()
        rows = OutputFingerprint.objects.filter(id__gt=_INDEX.last_row).order_by("id")
        fields = ("id", "output_id", "hashes", "thumbnails", "thumbnails_shape")
        for row in rows.values_list(*fields).iterator(chunk_size=2000):
            data = bytes(row[2])
            _INDEX.add(str(row[1]), [data[i : i + 32] for i in range(0, len(data), 32)])
            if row[3] and row[4]:
                thumbnails = np.frombuffer(bytes(row[3]), dtype=np.uint8).reshape(row[4])
                _INDEX.thumbnails.add(str(row[1]), thumbnails)
            _INDEX.last_row, _INDEX.last_output, _INDEX.rows = row[0], str(row[1]), _INDEX.rows + 1
    return _INDEX


def _still_there(index: FingerprintIndex) -> bool:
    """Every row the index loaded is still there: as many up to its last one, and the last one
    still that output's (SQLite gives a rolled-back id to the next row)."""
    loaded = OutputFingerprint.objects.filter(id__lte=index.last_row)
    last = loaded.filter(id=index.last_row, output_id=index.last_output)
    return last.exists() and loaded.count() == index.rows
