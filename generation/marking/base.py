"""The interface every watermark algorithm offers, and the registry the worker picks from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Detection:
    """A verified mark: `payload` is what `embed` was given (the keyed tag checked out)."""

    payload: int
    key_version: int
    confidence: float
    scale: float
    mirrored: bool
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Placement:
    """Where a suspect lies on the grid its mark was embedded on, found from the sync alone (no
    payload is read, nothing is verified): a lead for cropped copies, never an answer.

    The suspect's pixel (y, x), mirrored back if `mirrored` and brought to embedded size by
    dividing by `scale` (suspect px per embedded px), sat at (y + shift[0], x + shift[1]) of the
    output as embedded, modulo `period` px."""

    scale: float
    mirrored: bool
    shift: tuple[int, int]
    period: int
    confidence: float


class Watermarker(Protocol):
    """Embeds a `capacity_bits` payload into frames and finds it again, or says nothing."""

    @property
    def name(self) -> str: ...
    @property
    def capacity_bits(self) -> int: ...
    @property
    def key_version(self) -> int: ...

    def embed(self, frames: np.ndarray, payload: int) -> np.ndarray:
        """Mark float RGB frames (F, H, W, 3) in [0, 1] in place; returns them."""
        ...

    def detect(self, luma: np.ndarray) -> Detection | None:
        """Look for a mark in luma frames (F, H, W), 0-255. None unless the payload verifies."""
        ...


# name -> factory(key, key_version). A deployment that has another algorithm registers it here.
WatermarkerFactory = Callable[[bytes, int], Watermarker]
_ALGORITHMS: dict[str, WatermarkerFactory] = {}


def register(name: str, factory: WatermarkerFactory) -> None:
    _ALGORITHMS[name] = factory


def algorithm(name: str, *, key: bytes, key_version: int) -> Watermarker:
    try:
        factory = _ALGORITHMS[name]
    except KeyError:
        raise LookupError(f"No watermark algorithm named {name!r}.") from None
    return factory(key, key_version)


def algorithms() -> list[str]:
    return sorted(_ALGORITHMS)
