"""One routing pass: the windows an ingress batch completed -> one encoded RoutedBatch per partition.

Plain synchronous code, run in a worker thread while the event loop reads and
windows the next batch: the SASRec forward pass releases the GIL, so on two
cores the two overlap (streams/ingress.py keeps one pass in flight).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from raie.config import ExperimentConfig
from raie.online.artifacts import SessionState
from raie.online.candidates import Candidate
from schemas import RoutedBatch
from streams.events import now_ms
from streams.serving import represent_contexts, route_representations


@dataclass(frozen=True)
class PendingWindow:
    """A window waiting for its batch's routing pass, with where it came from."""

    candidate: Candidate
    event_id: str
    offset: int
    published_ms: int
    read_ms: int


@dataclass(frozen=True)
class EncodedBatch:
    partition: int
    value: bytes
    windows: int


def encode_routed(
    batches: list[tuple[int, list[PendingWindow]]], state: SessionState | None, config: ExperimentConfig
) -> list[EncodedBatch]:
    """Embed the routable windows of every partition in one forward pass, route them with
    ``state``'s bank, and encode one batch record per partition. Routable: after slice 0,
    once a Set-up model exists; the editor represents the others when it closes their slice."""
    flat = [w for _, windows in batches for w in windows]
    routable = [i for i, w in enumerate(flat) if w.candidate.slice > 0] if state is not None else []
    routed: _Routed | None = None
    if routable and state is not None:
        reps = represent_contexts(state, config, [flat[i].candidate.context for i in routable])
        routes, regions = route_representations(state, config, reps)
        routed = _Routed(state.closed_slices, reps, regions, routes.p1, routes.p2)
    position = np.full(len(flat), -1, dtype=np.int64)  # row among the embedded ones, or -1
    position[routable] = np.arange(len(routable))
    encoded, start = [], 0
    for partition, windows in batches:
        mine = position[start : start + len(windows)]
        start += len(windows)
        rows, among = np.flatnonzero(mine >= 0), mine[mine >= 0]
        candidates = [w.candidate for w in windows]
        batch = RoutedBatch.build(
            partition=partition,
            produced_ms=now_ms(),
            user_id=[c.user_id for c in candidates],
            slice=[c.slice for c in candidates],
            position=[c.position for c in candidates],
            context=[c.context for c in candidates],
            target=[c.target for c in candidates],
            ts_ms=[c.ts_ms for c in candidates],
            event_id=[w.event_id for w in windows],
            offset=[w.offset for w in windows],
            published_ms=[w.published_ms for w in windows],
            read_ms=[w.read_ms for w in windows],
            routed_rows=rows,
            **(routed.rows(among) if routed is not None and len(rows) else {"bank_version": None}),
        )
        encoded.append(EncodedBatch(partition, batch.to_bytes(), len(windows)))
    return encoded


@dataclass(frozen=True)
class _Routed:
    """The routing of every embedded window of a pass; ``rows`` picks one partition's."""

    bank_version: int
    embedding: np.ndarray
    region_id: np.ndarray
    p1: np.ndarray
    p2: np.ndarray

    def rows(self, among: np.ndarray) -> dict[str, Any]:
        picked: dict[str, Any] = {name: getattr(self, name)[among] for name in ("embedding", "region_id", "p1", "p2")}
        return picked | {"bank_version": self.bank_version}
