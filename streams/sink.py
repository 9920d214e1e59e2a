"""The interactions sink: accepted events to the store's ``interactions`` table, in chunks.

Each flush writes one chunk named by its partition and first offset and
returns before Faust acks the events, so offsets are committed only after
the rows are on disk. An event re-sent under an event id the open slices
already hold (a producer retry, a replay run twice) is not written again; a
re-read after a crash rewrites the same events at the same offsets, and the
table's view keeps one row per event id whatever was written twice.

Once a slice is closed in every partition the sink has seen, no new chunk
should land in it, so its chunks are compacted into one file without
duplicates (``Store.compact``). Rows that still arrive for a compacted slice
(a re-read after a crash, a partition seen late) are chunks again, and the
slice is compacted again after the flush that wrote them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from raie.online.slice_clock import PartitionClock
from raie.store import Store, table_spec
from schemas import Interaction, SchemaError
from streams.events import is_mark
from streams.settings import WorkerSettings
from streams.tables import get, put

log = logging.getLogger(__name__)

TABLE = "interactions"
SLICE_COLUMN = "slice"
"""The partition column a compaction groups by: one compacted file per slice."""


@dataclass
class InteractionSink:
    settings: WorkerSettings
    store: Store
    store_lock: asyncio.Lock
    clocks: Any  # Faust table: str(partition) -> mark offsets, this sink's own view of the marks
    rows_written: int = 0
    slices_compacted: int = 0
    # Slices this process wrote chunks to that may still need compacting.
    _written: set[int] = field(default_factory=set)
    # Every closed slice below this one has been compacted by this process. It
    # starts at 0, so after a restart slices closed before it are checked too
    # (a no-op for those compacted already).
    _compacted_below: int = 0
    # event id -> (slice, partition, offset) of every row in the open (uncompacted) slices; None until
    # loaded from the store. Bounded by the open slices: a compacted slice's ids leave it.
    _open_ids: dict[str, tuple[int, int, int]] | None = None

    async def write(self, events: Sequence[Any]) -> None:
        rows: dict[int, list[dict[str, object]]] = defaultdict(list)
        clocks: dict[int, PartitionClock] = {}
        held = await self._held_ids()
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
            slice_index = clock.slice_at(offset)
            first = held.setdefault(interaction.event_id, (slice_index, partition, offset))
            if first[1:] != (partition, offset):
                continue  # re-sent under an id already stored at another offset: the ingress drops it too
            rows[partition].append(_row(interaction, slice_index, partition, offset))
        chunks = {p: _chunk(p, part) for p, part in rows.items()}
        table = [row | {"chunk": chunks[p]} for p, part in rows.items() for row in part]
        if table:
            data = pa.Table.from_pylist(table, schema=table_spec(TABLE).schema)
            async with self.store_lock:
                self.rows_written += await asyncio.to_thread(self.store.write, TABLE, data)
            self._written.update(int(str(row[SLICE_COLUMN])) for row in table)
        await asyncio.gather(
            *[await put(self.clocks, partition, str(partition), clock.to_json()) for partition, clock in clocks.items()]
        )
        await self.compact_closed()

    async def compact_closed(self) -> None:
        """Compact every slice that is closed in all partitions seen and may hold uncompacted chunks."""
        closed = closed_below(PartitionClock.from_json(value) for value in self.clocks.data.values())
        due = sorted({s for s in self._written if s < closed} | set(range(self._compacted_below, closed)))
        for slice_index in due:
            # One slice per lock: the editor's writes wait for one compaction at most.
            async with self.store_lock:
                result = await asyncio.to_thread(self.store.compact, TABLE, {SLICE_COLUMN: slice_index})
            self._written.discard(slice_index)
            held = await self._held_ids()
            for event_id in [e for e, (s, _, _) in held.items() if s == slice_index]:
                del held[event_id]
            if result.files_removed:
                self.slices_compacted += 1
                log.info(
                    "slice %d: %d chunks compacted into one file of %d rows",
                    slice_index,
                    result.files_removed,
                    result.rows,
                )
        self._compacted_below = max(self._compacted_below, closed)

    async def _held_ids(self) -> dict[str, tuple[int, int, int]]:
        """The open slices' event ids, read from the store once per process (a restart rebuilds them)."""
        if self._open_ids is None:
            closed = closed_below(PartitionClock.from_json(value) for value in self.clocks.data.values())
            sql = 'SELECT event_id, slice, "partition", "offset" FROM interactions WHERE slice >= ?'
            async with self.store_lock:
                stored = await asyncio.to_thread(self.store.query, sql, [closed])
            self._open_ids = {
                str(r["event_id"]): (int(r["slice"]), int(r["partition"]), int(r["offset"])) for r in stored.to_pylist()
            }
        return self._open_ids


def closed_below(clocks: Iterable[PartitionClock]) -> int:
    """The first slice still open in some partition: every slice below it is closed in all of them."""
    return min((clock.open_slice for clock in clocks), default=0)


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
