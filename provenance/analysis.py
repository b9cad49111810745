"""What a suspect file says about where it came from: its invisible mark, verified or nothing.

Runs on the CPU queue (or in `manage.py trace`): numpy/OpenCV only, no torch, no GPU.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from generation.marking.media import UnreadableMedia, read_luma
from generation.marks import watermarkers
from provenance.selectors import provenance_of, serial_lookup


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
    report["seconds"] = round(time.monotonic() - started, 3)
    return report
