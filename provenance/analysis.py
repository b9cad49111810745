"""What a suspect file says about where it came from: its invisible mark, verified or nothing.

Runs on the CPU queue (or in `manage.py trace`): numpy/OpenCV only, no torch, no GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.storage import storages

from generation.marking.base import Detection, Placement
from generation.marking.media import UnreadableMedia, read_luma
from generation.marks import Reference, credentials_of, detect_informed, locate, watermarkers
from provenance.fingerprints import FingerprintIndex, Lead, frame_hashes
from provenance.indexing import fingerprint_index_current
from provenance.selectors import leads_described, leads_marked, provenance_of, serial_lookup
from provenance.thumbnails import PlacedLead, suspect_thumbnails

# Leads of each kind whose delivered file a blind miss is read against (informed), best first.
INFORMED_LEADS = 3


class UnreadableSuspect(ValueError):
    pass


@dataclass
class Reading:
    """What the reads of one suspect found, in the order they ran (`read_mark`)."""

    detection: Detection | None = None
    algorithm: str = ""
    how: str = ""  # "mean", "leads", "placed" or "weighted": which read found the mark
    leads: list[Lead] = field(default_factory=list)
    frames_hashed: int = 0
    placement: Placement | None = None
    placed_leads: list[PlacedLead] = field(default_factory=list)


def _quiet(words: str) -> None:
    pass


def read_mark(
    luma: np.ndarray,
    path: Path,
    *,
    index: FingerprintIndex,
    references: Callable[[list[str]], list[Reference]],
    stage: Callable[[str], None] = _quiet,
) -> Reading:
    """The suspect's mark, read cheap and sure first: the blind read of the frames' mean with
    every configured key; then, if that finds nothing, the read against the delivered files of
    the outputs the suspect looks like (PDQ leads); then against the outputs a cropped copy was
    cut from (placed by the watermark's sync, matched on grid thumbnails); then the blind
    frame-weighted read. `references` turns leads' output ids (best first) into the files to
    read against. The PDQ leads are always computed: the report lists them. `stage` hears each
    step as it starts, in words for the trace's page."""
    reading = Reading()
    stage("Reading the mark from the mean of the frames")
    reading.detection, reading.algorithm = _blind(luma, "detect_mean")
    reading.how = "mean" if reading.detection is not None else ""
    stage("Looking for look-alike outputs (PDQ fingerprints)")
    try:
        queries = [digest for _, digest, _ in frame_hashes(path)]
    except (OSError, RuntimeError, StopIteration):
        queries = []
    reading.leads, reading.frames_hashed = index.search(queries), len(queries)
    if reading.detection is not None:
        return reading
    tried = [lead.output_id for lead in reading.leads[:INFORMED_LEADS]]
    if tried:
        stage(f"Reading the mark against {len(tried)} look-alike output(s)")
    if _informed(reading, luma, references(tried), "leads"):
        return reading
    stage("Placing a cropped copy on the mark's grid")
    reading.placement = locate(luma)
    if reading.placement is not None:
        try:
            thumbnails, origin = suspect_thumbnails(path, reading.placement)
        except (OSError, RuntimeError, StopIteration):
            thumbnails, origin = [], (0, 0)
        period = reading.placement.period
        reading.placed_leads = index.thumbnails.search(thumbnails, origin, period)
        fresh = [lead.output_id for lead in reading.placed_leads if lead.output_id not in tried]
        if fresh:
            stage(
                f"Reading the mark against {len(fresh[:INFORMED_LEADS])} output(s) it was cut from"
            )
        if _informed(reading, luma, references(fresh[:INFORMED_LEADS]), "placed"):
            return reading
    stage("Reading the mark frame by frame")
    reading.detection, reading.algorithm = _blind(luma, "detect_weighted")
    reading.how = "weighted" if reading.detection is not None else ""
    return reading


def _informed(reading: Reading, luma: np.ndarray, references: list[Reference], how: str) -> bool:
    found = detect_informed(luma, references)
    if found is None:
        return False
    reading.detection, reading.algorithm, reading.how = found[0], found[1].algorithm, how
    return True


def analyse(path: Path, *, stage: Callable[[str], None] = _quiet) -> dict[str, Any]:
    """The report of one trace (JSON-ready). `identified` is set only when a mark's keyed tag
    verified *and* its serial names a stored output or share link: a guess is never an answer.
    `stage` hears each step as it starts (`read_mark`'s too)."""
    started = time.monotonic()
    stage("Decoding the file")
    try:
        luma = read_luma(path)
    except UnreadableMedia as exc:
        raise UnreadableSuspect(str(exc)) from exc
    stage("Checking the content credentials (C2PA)")
    report: dict[str, Any] = {
        "frames_read": int(luma.shape[0]),
        "width": int(luma.shape[2]),
        "height": int(luma.shape[1]),
        "c2pa": credentials_of(path),
        "watermark": {"found": False},
        "identified": None,
    }
    reading = read_mark(
        luma, path, index=fingerprint_index_current(), references=_references, stage=stage
    )
    detection = reading.detection
    if detection is not None:
        report["watermark"] = {
            "found": True,
            "verified": True,
            "serial": detection.payload,
            "algorithm": reading.algorithm,
            "key_version": detection.key_version,
            "sync_z": round(detection.confidence, 1),
            "scale": round(detection.scale, 4),
            "mirrored": detection.mirrored,
            "method": "informed" if detection.details.get("informed") else "blind",
            "read": reading.how,
            **detection.details,
        }
        match = serial_lookup(detection.payload, key_version=detection.key_version)
        if match is None:
            report["watermark"]["note"] = "The mark verified but names no stored output."
        else:
            report["identified"] = provenance_of(*match, serial=detection.payload)
    report["fingerprint_leads"] = {
        "note": "Leads, not proof: look-alike outputs by perceptual hash (PDQ).",
        "frames_hashed": reading.frames_hashed,
        "leads": leads_described(reading.leads),
    }
    if reading.placement is not None:
        report["placed_leads"] = {
            "note": "Leads, not proof: outputs a cropped copy may be cut from, placed on the "
            "watermark's grid by its sync and matched on thumbnails.",
            "scale": round(reading.placement.scale, 4),
            "mirrored": reading.placement.mirrored,
            "sync_z": round(reading.placement.confidence, 1),
            "leads": leads_described(reading.placed_leads),
        }
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def _blind(luma, half: str) -> tuple[Detection | None, str]:
    """The mark as each configured key reads it from the suspect alone, in two halves where the
    algorithm splits its read (`detect_mean`, then `detect_weighted`); else `detect` first."""
    for marker in watermarkers():
        read = getattr(marker, half, None)
        if read is None:
            read = marker.detect if half == "detect_mean" else None
        detection: Detection | None = read(luma) if read is not None else None
        if detection is not None:
            return detection, marker.name
    return None, ""


def _references(output_ids: list[str]) -> list[Reference]:
    """The delivered files of these outputs that carry a mark, in order (outputs marked before
    marking existed, or whose file is gone, are left out)."""
    storage, references = storages["outputs"], []
    for output in leads_marked(output_ids):
        try:
            path = Path(storage.path(output.video_name))
        except NotImplementedError:  # remote storage: no local file to read
            continue
        if path.is_file() and output.mark_serial and output.mark_key_version:
            references.append(
                Reference(path, output.mark_serial, output.mark_algorithm, output.mark_key_version)
            )
    return references
