"""Garbage collection that does not stall the stream, and a log line when it still does.

The region editor holds every window of the open slices until they close: a
few hundred thousand objects on a busy slice. CPython's full (generation 2)
collection then scans all of them whenever the heap has grown by a quarter,
330-410 ms each on the 2-core box (measured, BENCHMARKS.md issue #16), while
every event in flight waits on the GIL; it found almost nothing to free.

So the worker moves the objects that survive a young collection to the
permanent generation every ``FREEZE_EVERY_S`` (:func:`freeze_survivors`) and
gives them back to the collector once a slice has closed and released its
windows (:func:`thaw`). The cost: a reference cycle that becomes garbage
while frozen waits for the next slice close (full collections of the
long-lived heap found 0-643 objects). Reference counting, which frees almost
everything here, is unaffected.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

PAUSE_WARN_MS = 100.0
"""A collection at least this long is logged: the stream's latency goal is p99 100 ms."""

FREEZE_EVERY_S = 5.0
"""Often enough that the unfrozen heap stays small (a few seconds of a stream's objects)."""


def freeze_survivors() -> None:
    """Collect the young generations (cheap), then freeze whatever survived."""
    gc.collect(1)
    gc.freeze()


def thaw() -> None:
    """After a slice close: everything frozen is scanned again, once, and cycles among it are freed."""
    gc.unfreeze()
    gc.collect()


class GcPauseLog:
    """A ``gc.callbacks`` entry that logs each collection of at least ``warn_ms``."""

    def __init__(self, warn_ms: float = PAUSE_WARN_MS) -> None:
        self.warn_ms = warn_ms
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        paused_ms = (time.perf_counter() - self._started) * 1000
        if paused_ms >= self.warn_ms:
            log.warning(
                "garbage collection of generation %d paused the worker %.0f ms (%d objects collected)",
                info["generation"],
                paused_ms,
                info["collected"],
            )

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)
