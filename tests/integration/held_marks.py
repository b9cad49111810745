"""A watermark algorithm that holds a job in a real worker's encoding stage until the test lets
it go: `celery worker --include tests.integration.held_marks` with
VERNISSAGE_WATERMARK_ALGORITHM=held-keyed-tile-v2 and VERNISSAGE_TEST_HOLD_DIR set.

Marking is the encoding stage's first step, after the task has returned (and its message was
acked). The first embed writes `holding-<pid>` into the hold folder and waits until `release`
appears there; then it marks exactly as keyed-tile-v2 does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from generation.marking.base import register
from generation.marking.tile import KeyedTileWatermarker

NAME = "held-keyed-tile-v2"
HOLD_LIMIT_S = 600


class HeldWatermarker(KeyedTileWatermarker):
    name = NAME

    def embed(self, frames: np.ndarray, payload: int) -> np.ndarray:
        folder = Path(os.environ["VERNISSAGE_TEST_HOLD_DIR"])
        (folder / f"holding-{os.getpid()}").touch()
        deadline = time.monotonic() + HOLD_LIMIT_S
        while not (folder / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return super().embed(frames, payload)


register(NAME, HeldWatermarker)
