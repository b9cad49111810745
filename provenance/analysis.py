"""What a suspect file says about where it came from: its invisible mark, verified or nothing.

Runs on the CPU queue (or in `manage.py trace`): numpy/OpenCV only, no torch, no GPU.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.files.storage import storages

from generation.marking.base import Detection
from generation.marking.media import UnreadableMedia, read_luma
from generation.marks import Reference, credentials_of, detect_informed, watermarkers
from provenance.fingerprints import Lead, frame_hashes
from provenance.indexing import fingerprint_index_current
from provenance.selectors import leads_described, leads_marked, provenance_of, serial_lookup

# Leads whose delivered file a blind miss is read against (informed detection), best first.
INFORMED_LEADS = 3


class UnreadableSuspect(ValueError):
    pass


def analyse(path: Path) -> dict[str, Any]:
    """The report of one trace (JSON-ready). `identified` is set only when a mark's keyed tag
    verified *and* its serial names a stored output or share link: a guess is never an answer."""
    started = time.monotonic()
    try:
        luma = read_luma(path)
    except UnreadableMedia as exc:
        raise UnreadableSuspect(str(exc)) from exc
    report: dict[str, Any] = {
        "frames_read": int(luma.shape[0]),
        "width": int(luma.shape[2]),
        "height": int(luma.shape[1]),
        "c2pa": credentials_of(path),
        "watermark": {"found": False},
        "identified": None,
    }
    detection, algorithm = _blind(luma, "detect_mean")
    leads = _leads(path)
    if detection is None:
        # No mark in the mean of the frames: read it against the outputs the suspect looks like
        # (fast and sure where there is a lead), then weigh the frames by their own evidence.
        informed = detect_informed(luma, _references(leads))
        if informed is not None:
            detection, reference = informed
            algorithm = reference.algorithm
        else:
            detection, algorithm = _blind(luma, "detect_weighted")
    if detection is not None:
        report["watermark"] = {
            "found": True,
            "verified": True,
            "serial": detection.payload,
            "algorithm": algorithm,
            "key_version": detection.key_version,
            "sync_z": round(detection.confidence, 1),
            "scale": round(detection.scale, 4),
            "mirrored": detection.mirrored,
            "method": "informed" if detection.details.get("informed") else "blind",
            **detection.details,
        }
        match = serial_lookup(detection.payload, key_version=detection.key_version)
        if match is None:
            report["watermark"]["note"] = "The mark verified but names no stored output."
        else:
            report["identified"] = provenance_of(*match, serial=detection.payload)
    report["fingerprint_leads"] = {
        "note": "Leads, not proof: look-alike outputs by perceptual hash (PDQ).",
        "frames_hashed": leads[1],
        "leads": leads_described(leads[0]),
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


def _references(leads: tuple[list[Lead], int]) -> list[Reference]:
    """The delivered files of the best leads that carry a mark (outputs marked before marking
    existed, or whose file is gone, are left out)."""
    storage, references = storages["outputs"], []
    for output in leads_marked(leads[0][:INFORMED_LEADS]):
        try:
            path = Path(storage.path(output.video_name))
        except NotImplementedError:  # remote storage: no local file to read
            continue
        if path.is_file() and output.mark_serial and output.mark_key_version:
            references.append(
                Reference(path, output.mark_serial, output.mark_algorithm, output.mark_key_version)
            )
    return references


def _leads(path: Path) -> tuple[list[Lead], int]:
    """PDQ leads (outputs that look like the suspect, best first), and the frames hashed."""
    try:
        queries = [digest for _, digest, _ in frame_hashes(path)]
    except (OSError, RuntimeError, StopIteration):
        queries = []
    return fingerprint_index_current().search(queries), len(queries)
