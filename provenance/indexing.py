"""The fingerprint index's rows: computing them for outputs, and loading them into memory."""

from __future__ import annotations

import logging
from pathlib import Path

from django.core.files.storage import storages

from provenance.fingerprints import FingerprintIndex, frame_hashes
from provenance.models import OutputFingerprint
from review.models import Output

logger = logging.getLogger(__name__)


_INDEX = FingerprintIndex()


def fingerprints_index(*, limit: int = 200) -> int:
    """Fingerprint up to `limit` outputs that have none yet (oldest first); returns how many."""
    pending = (
        Output.objects.exclude(id__in=OutputFingerprint.objects.values("output_id"))
        .order_by("created_at")
        .only("id", "video_name")[:limit]
    )
    storage, done = storages["outputs"], 0
    for output in pending:
        try:
            found = frame_hashes(Path(storage.path(output.video_name)))
        except (OSError, RuntimeError, StopIteration) as exc:
            logger.warning("No fingerprints for output %s: %s", output.id, exc)
            found = []
        OutputFingerprint.objects.get_or_create(
            output=output,
            defaults={
                "hashes": b"".join(h for _, h, _ in found),
                "seconds": [t for t, _, _ in found],
                "qualities": [q for _, _, q in found],
            },
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
        for row in rows.values_list("id", "output_id", "hashes").iterator(chunk_size=2000):
            data = bytes(row[2])
            _INDEX.add(str(row[1]), [data[i : i + 32] for i in range(0, len(data), 32)])
            _INDEX.last_row, _INDEX.last_output, _INDEX.rows = row[0], str(row[1]), _INDEX.rows + 1
    return _INDEX


def _still_there(index: FingerprintIndex) -> bool:
    """Every row the index loaded is still there: as many up to its last one, and the last one
    still that output's (SQLite gives a rolled-back id to the next row)."""
    loaded = OutputFingerprint.objects.filter(id__lte=index.last_row)
    last = loaded.filter(id=index.last_row, output_id=index.last_output)
    return last.exists() and loaded.count() == index.rows
