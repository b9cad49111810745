"""What a suspect file says about where it came from: its invisible mark, verified or nothing.

Runs on the CPU queue (or in `manage.py trace`): numpy/OpenCV only, no torch, no GPU.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from generation.marking.media import UnreadableMedia, read_luma
from generation.marks import credentials_of, watermarkers
from provenance.fingerprints import frame_hashes
from provenance.indexing import fingerprint_index_current
from provenance.selectors import leads_described, provenance_of, serial_lookup


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
    for marker in watermarkers():
        detection = marker.detect(luma)
        if detection is None:
            continue
        report["watermark"] = {
            "found": True,
            "verified": True,
            "serial": detection.payload,
            "algorithm": marker.name,
            "key_version": detection.key_version,
            "sync_z": round(detection.confidence, 1),
            "scale": round(detection.scale, 4),
            "mirrored": detection.mirrored,
            **detection.details,
        }
        match = serial_lookup(detection.payload, key_version=detection.key_version)
        if match is None:
            report["watermark"]["note"] = "The mark verified but names no stored output."
        else:
            report["identified"] = provenance_of(*match, serial=detection.payload)
        break
    report["fingerprint_leads"] = _leads(path)
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def _leads(path: Path) -> dict[str, Any]:
    """PDQ leads: outputs that look like the suspect. Labelled as leads; never an identification."""
    try:
        queries = [digest for _, digest, _ in frame_hashes(path)]
    except (OSError, RuntimeError, StopIteration):
        queries = []
    leads = fingerprint_index_current().search(queries)
    return {
        "note": "Leads, not proof: look-alike outputs by perceptual hash (PDQ).",
        "frames_hashed": len(queries),
        "leads": leads_described(leads),
    }
