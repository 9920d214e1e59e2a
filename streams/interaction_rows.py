"""Accepted interactions as Arrow columns for the store, built as the ingress reads them.

Columns are appended to plain lists per input partition and become one
``interactions`` chunk per partition at each commit: no per-row dict, no
second decode of the event (the store sink used to be a second agent that
decoded every record again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from raie.store import Store, table_spec
from raie.store.store import write_partitions
from schemas import Interaction

TABLE = "interactions"
SLICE_COLUMN = "slice"
"""The partition column a compaction groups by: one compacted file per slice."""


@dataclass
class InteractionRows:
    """Rows of one input partition since the last commit."""

    partition: int
    event_id: list[str] = field(default_factory=list)
    user_id: list[str] = field(default_factory=list)
    item_id: list[str] = field(default_factory=list)
    rating: list[float | None] = field(default_factory=list)
    ts_ms: list[int] = field(default_factory=list)
    slice: list[int] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    offset: list[int] = field(default_factory=list)

    def add(self, interaction: Interaction, slice_index: int, offset: int) -> None:
        self.event_id.append(interaction.event_id)
        self.user_id.append(interaction.user_id)
        self.item_id.append(interaction.item_id)
        self.rating.append(interaction.rating)
        self.ts_ms.append(interaction.ts_ms)
        self.slice.append(slice_index)
        self.source.append(interaction.source)
        self.offset.append(offset)

    def __len__(self) -> int:
        return len(self.event_id)

    def table(self) -> pa.Table:
        """The rows in the store's schema; the chunk is named by partition and first offset,
        so re-reading the same events after a crash rewrites the same chunk."""
        spec = table_spec(TABLE)
        n = len(self)
        chunk = f"p{self.partition}-{min(self.offset):012d}"
        columns = {
            "event_id": pa.array(self.event_id, pa.string()),
            "user_id": pa.array(self.user_id, pa.string()),
            "item_id": pa.array(self.item_id, pa.string()),
            "rating": pa.array(self.rating, pa.float64()),
            "ts": pa.array(np.asarray(self.ts_ms, dtype=np.int64), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "slice": pa.array(self.slice, pa.int32()),
            "source": pa.array(self.source, pa.string()),
            "partition": pa.array(np.full(n, self.partition, dtype=np.int32)),
            "offset": pa.array(self.offset, pa.int64()),
            "chunk": pa.array([chunk] * n, pa.string()),
        }
        return pa.table(columns, schema=spec.schema)


def write_rows(store_root: Path, rows: list[InteractionRows]) -> int:
    """Write every partition's chunk without the store's writer lock (streams/store_access.py;
    blocking: call it in a thread); the row count."""
    tables = [r.table() for r in rows if len(r)]
    if not tables:
        return 0
    return write_partitions(store_root, TABLE, pa.concat_tables(tables))


def compact_closed(store: Store, below: int) -> int:
    """Compact every slice below ``below`` that has chunks; the number of slices compacted.

    Run by the editor after it closes a slice: every partition's rows of a
    closed slice are durable by then (the ingress commits before it forwards
    a mark). Rows that still arrive for a compacted slice (a re-read after a
    crash) are chunks again, and the next close folds them in."""
    compacted = 0
    for slice_index in range(below):
        if store.compact(TABLE, {SLICE_COLUMN: slice_index}).files_removed:
            compacted += 1
    return compacted
