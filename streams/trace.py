"""An optional JSON-lines trace of where each window's time goes (``raie worker --trace FILE``).

Benchmarks read it; a production worker leaves it off. One line per routed
batch and stage:

- ``{"stage": "produced", "at_ms", "windows", "events"}``: the ingress sent a batch's windows;
- ``{"stage": "applied", "at_ms", "windows", "published_ms": [...], "read_ms": [...],
  "produced_ms"}``: the editor took a batch's windows in (``published_ms``: each target
  event's Kafka record timestamp; ``read_ms``: when the ingress read it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from schemas import RoutedBatch
from streams.events import now_ms


@dataclass
class Trace:
    path: Path | None
    _out: IO[str] | None = None

    def produced(self, windows: int, events: int) -> None:
        self._write({"stage": "produced", "at_ms": now_ms(), "windows": windows, "events": events})

    def applied(self, batch: RoutedBatch) -> None:
        if self.path is None:
            return
        self._write(
            {
                "stage": "applied",
                "at_ms": now_ms(),
                "windows": len(batch),
                "published_ms": np.asarray(batch.published_ms).tolist(),
                "read_ms": np.asarray(batch.read_ms).tolist(),
                "produced_ms": batch.produced_ms,
            }
        )

    def _write(self, line: dict[str, object]) -> None:
        if self.path is None:
            return
        if self._out is None:
            self._out = self.path.open("a", encoding="utf-8")
        self._out.write(json.dumps(line) + "\n")
        self._out.flush()  # a benchmark reads it while the worker runs
