"""Marking outputs at render time: which algorithm and key mark a new output, and its serial.

The algorithms themselves (`generation.marking`) know nothing of Django; this module reads the
deployment's keys from settings. Serials are random 40-bit numbers: outputs below 2**39, share
links' own copies above it, so a recovered serial says which table to look in.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from generation.marking import base
from generation.marking import tile as _tile  # noqa: F401  (registers keyed-tile-v1 and -v2)
from generation.marking.base import Detection, Placement, Watermarker
from generation.marking.credentials import (
    SigningIdentity,
    make_development_ca,
    read_credentials,
    sign_mp4,
)
from generation.marking.media import UnreadableMedia, read_luma

SHARE_LINK_SERIAL_FLAG = 1 << 39
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mark:
    serial: int
    algorithm: str
    key_version: int

    def as_output_fields(self) -> dict[str, object]:
        return {
            "mark_serial": self.serial,
            "mark_algorithm": self.algorithm,
            "mark_key_version": self.key_version,
        }


def _key_bytes(key: str) -> bytes:
    return hashlib.sha256(f"vernissage-watermark:{key}".encode()).digest()


def keys() -> dict[int, str]:
    """Every key version this deployment can still trace, the current one included."""
    return {
        **settings.WATERMARK_RETIRED_KEYS,
        settings.WATERMARK_KEY_VERSION: settings.WATERMARK_KEY,
    }


def watermarker(algorithm: str | None = None, key_version: int | None = None) -> Watermarker:
    """The watermarker for an algorithm and key version (default: what marks new outputs)."""
    version = settings.WATERMARK_KEY_VERSION if key_version is None else key_version
    key = keys().get(version)
    if key is None:
        raise LookupError(f"No watermark key of version {version} is configured.")
    return base.algorithm(
        algorithm or settings.WATERMARK_ALGORITHM, key=_key_bytes(key), key_version=version
    )


def watermarkers() -> list[Watermarker]:
    """One per configured key version, newest first: what a trace tries."""
    return [watermarker(key_version=version) for version in sorted(keys(), reverse=True)]


@dataclass(frozen=True)
class Reference:
    """A delivered file a suspect may be a copy of, and the mark that file carries."""

    path: Path
    serial: int
    algorithm: str
    key_version: int


def detect_informed(
    luma: np.ndarray, references: list[Reference]
) -> tuple[Detection, Reference] | None:
    """The suspect's mark read against each reference in turn (best lead first): the first that
    verifies, and the reference it was read against. An algorithm without informed detection, a
    key no longer configured or a reference file that cannot be read is skipped."""
    for reference in references:
        try:
            marker = watermarker(reference.algorithm, reference.key_version)
        except LookupError:
            continue
        informed = getattr(marker, "detect_informed", None)
        if informed is None:
            continue
        try:
            frames = read_luma(reference.path)
        except UnreadableMedia:
            logger.warning("Informed detection: %s cannot be read", reference.path)
            continue
        found: Detection | None = informed(luma, frames, reference.serial)
        if found is not None:
            return found, reference
    return None


def new_serial(*, share_link: bool = False) -> int:
    serial = secrets.randbelow(SHARE_LINK_SERIAL_FLAG - 1) + 1
    return serial | SHARE_LINK_SERIAL_FLAG if share_link else serial


def is_share_link_serial(serial: int) -> bool:
    return bool(serial & SHARE_LINK_SERIAL_FLAG)


# uint8 frames are marked this many at a time through a float copy of just those frames.
MARK_CHUNK_FRAMES = 8


def mark_frames(frames: np.ndarray) -> tuple[np.ndarray, Mark]:
    """Embed a fresh output serial in RGB frames, in place when they are writable: float frames
    in [0, 1], or uint8 pixels (what the worker renders), marked a few frames at a time so no
    float copy of the whole clip is made."""
    pixels = frames.dtype == np.uint8
    frames = np.ascontiguousarray(frames, dtype=np.uint8 if pixels else np.float32)
    if not frames.flags.writeable:
        frames = frames.copy()
    marker = watermarker()
    serial = new_serial()
    if pixels:
        _embed_in_pixels(marker, frames, serial)
    else:
        marker.embed(frames, serial)
    return frames, Mark(serial=serial, algorithm=marker.name, key_version=marker.key_version)


def _embed_in_pixels(marker: Watermarker, pixels: np.ndarray, serial: int) -> None:
    for start in range(0, len(pixels), MARK_CHUNK_FRAMES):
        chunk = pixels[start : start + MARK_CHUNK_FRAMES]
        floats = chunk.astype(np.float32)
        floats *= 1 / 255
        floats = marker.embed(floats, serial)
        np.clip(floats, 0.0, 1.0, out=floats)
        floats *= 255
        np.rint(floats, out=floats)
        chunk[...] = floats


def signing_identity() -> SigningIdentity | None:
    """The deployment's C2PA certificate and key; in development a CA made once on first use.
    None in production when none is configured (a system check says so)."""
    cert, key = Path(settings.C2PA_CERT_PATH), Path(settings.C2PA_KEY_PATH)
    if not (cert.exists() and key.exists()):
        if settings.PRODUCTION:
            return None
        cert, key = make_development_ca(settings.C2PA_DIR)
    return SigningIdentity.from_files(cert, key)


def sign_delivered(video: Path, *, serial: int) -> bool:
    """Put signed content credentials on an MP4 in place; False if this deployment has none."""
    identity = signing_identity()
    if identity is None:
        logger.warning("No C2PA certificate (VERNISSAGE_C2PA_CERT/KEY): %s is unsigned", video.name)
        return False
    signed = video.with_name(f".{video.name}.signed.mp4")
    try:
        sign_mp4(video, signed, identity=identity, serial=serial, generator=settings.C2PA_GENERATOR)
        os.replace(signed, video)
    finally:
        signed.unlink(missing_ok=True)
    return True


def credentials_of(path: Path) -> dict[str, Any]:
    identity = signing_identity()
    ours = identity.certificate_serial() if identity is not None else None
    return read_credentials(path, our_certificate_serial=ours)


def locate(luma: np.ndarray) -> Placement | None:
    """Where a suspect lies on the grid of a mark made with a configured key, from the sync alone
    (the first key whose sync shows; algorithms that cannot tell are skipped). A lead for
    cropped copies, never an answer."""
    for marker in watermarkers():
        find = getattr(marker, "locate", None)
        placement: Placement | None = find(luma) if find is not None else None
        if placement is not None:
            return placement
    return None
