"""The interactions sink: accepted events to the store's ``interactions`` table, in chunks.

Each flush writes one chunk named by its partition and first offset and
returns before Faust acks the events, so offsets are committed only after
the rows are on disk. A re-read after a crash rewrites the same chunk; the
table's view keeps one row per event id, whatever was written twice.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from raie.online.slice_clock import PartitionClock
from raie.store import Store, table_spec
from schemas import Interaction, SchemaError
from streams.events import is_mark
from streams.settings import WorkerSettings
from streams.tables import get, put

TABLE = "interactions"


@dataclass
class InteractionSink:
    settings: WorkerSettings
    store: Store
    store_lock: asyncio.Lock
    clocks: Any  # Faust table: str(partition) -> mark offsets, this sink's own view of the marks
    rows_written: int = 0

    async def write(self, events: Sequence[Any]) -> None:
        rows: dict[int, list[dict[str, object]]] = defaultdict(list)
        clocks: dict[int, PartitionClock] = {}
        for event in events:
            partition, offset = event.message.partition, event.message.offset
            if partition not in clocks:
                stored = get(self.clocks, str(partition))
                clocks[partition] = PartitionClock.from_json(stored) if stored is not None else PartitionClock()
            clock = clocks[partition]
            if is_mark(event):
                clock.mark(offset)
                continue
            try:
                interaction = Interaction.from_bytes(event.value or b"")
            except SchemaError:
                continue  # the ingress dead-letters it; one agent reports each bad event
            if self.settings.watermark is not None:
                clock.watermark_marks(offset, interaction.ts_ms, self.settings.watermark)
            rows[partition].append(_row(interaction, clock.slice_at(offset), partition, offset))
        chunks = {p: _chunk(p, part) for p, part in rows.items()}
        table = [row | {"chunk": chunks[p]} for p, part in rows.items() for row in part]
        if table:
            data = pa.Table.from_pylist(table, schema=table_spec(TABLE).schema)
            async with self.store_lock:
                self.rows_written += await asyncio.to_thread(self.store.write, TABLE, data)
        await asyncio.gather(
            *[await put(self.clocks, partition, str(partition), clock.to_json()) for partition, clock in clocks.items()]
        )


def _chunk(partition: int, rows: list[dict[str, object]]) -> str:
    first = min(int(str(row["offset"])) for row in rows)
    return f"p{partition}-{first:012d}"


def _row(interaction: Interaction, slice_index: int, partition: int, offset: int) -> dict[str, object]:
    return {
        "event_id": interaction.event_id,
        "user_id": interaction.user_id,
        "item_id": interaction.item_id,
        "rating": interaction.rating,
        "ts": datetime.fromtimestamp(interaction.ts_ms / 1000, tz=UTC),
        "slice": slice_index,
        "source": interaction.source,
        "partition": partition,
        "offset": offset,
    }
