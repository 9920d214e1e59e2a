"""The ingress, the one agent on ``interactions``: validate, deduplicate, window, embed, route, store.

Per batch of records (a few milliseconds' worth), in order:

- a record already applied (at or below its partition's ``last_offset``, a
  re-read after a crash) is skipped;
- a malformed one goes to the dead letters with its reason and bytes;
- an event id seen before (within the seen horizon) is a duplicate;
- an accepted event becomes a store row and, if positive, may complete a
  window; the batch's windows are embedded in one forward pass off the loop,
  routed, and sent as ONE binary record per partition (:class:`RoutedBatch`).

Windows go out at once (the editor's latency); what makes the batch durable
waits for a *commit*, every ``commit_interval_s``: the windows' and dead
letters' deliveries, then the store rows (one Parquet chunk per partition,
written in a thread), then one state delta per partition. Only then are the
records acked. The delta is the commit point: a crash before it re-reads the
records from the state before them, and sends the same windows (the editor
keeps one per key) and the same rows (the store's view keeps one per event).
A commit takes its work on the loop and finishes in the background while the
agent reads on (a Parquet write and a delta round trip would otherwise stall
every event behind them); the next commit waits for it, a slice mark and a
revoke wait for it to finish.

A slice mark is forwarded after a commit, and recorded in the clock after
it is forwarded, so a crash in between forwards it again (the editor counts
a partition's mark once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raie.online.slice_clock import PartitionClock
from raie.online.user_state import next_window
from schemas import DeadLetter, Interaction, SchemaError, SliceMark
from schemas.interaction_fast import decode_interaction
from streams.events import is_mark, now_ms
from streams.ingress_states import IngressStates, TakenDeltas
from streams.interaction_rows import InteractionRows, write_rows
from streams.partition_state import PartitionState
from streams.routing_pass import PendingWindow, encode_routed
from streams.serving import ServingState
from streams.settings import WorkerSettings
from streams.topic_names import INTERACTIONS
from streams.trace import Trace

log = logging.getLogger(__name__)

MS_PER_SECOND = 1000

Send = Callable[[bytes], Awaitable[Any]]
"""async (value) -> a delivery future."""
Ack = Callable[[Any], Awaitable[Any]]
ContextsChanged = Callable[[int, dict[str, tuple[str, ...]]], None]
"""(partition, {user id: the user's latest positives}): called on the loop, must not block."""


@dataclass
class IngressCounts:
    accepted: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    not_positive: int = 0
    windows: int = 0
    marks: int = 0
    reread: int = 0
    commits: int = 0


@dataclass
class Ingress:
    settings: WorkerSettings
    serving: ServingState
    states: IngressStates
    store_root: Path
    send_batch: Send
    send_mark: Send
    send_dead_letter: Send
    ack: Ack
    trace: Trace = field(default_factory=lambda: Trace(None))
    counts: IngressCounts = field(default_factory=IngressCounts)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by a batch and by a commit: a commit never acks a record whose windows are not sent."""
    owned: set[int] = field(default_factory=set)
    """Input partitions the group gives this worker now; records of others are left alone."""
    contexts_changed: ContextsChanged | None = None
    """Told after each batch which users' contexts it changed (the serving process's replica)."""
    _changed: dict[int, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    _rows: dict[int, InteractionRows] = field(default_factory=dict)
    _deliveries: list[Awaitable[Any]] = field(default_factory=list)
    _unacked: list[Any] = field(default_factory=list)
    _last_commit: float = field(default_factory=time.monotonic)
    _committing: asyncio.Future[None] | None = None

    async def process(self, events: Sequence[Any]) -> None:
        """One batch, in order; commits when the commit interval or size is reached."""
        async with self.lock:
            pending: dict[int, list[PendingWindow]] = {}
            for event in events:
                message = event.message
                if message.partition not in self.owned:
                    continue  # fetched before a rebalance moved its partition: the new owner reads it
                state = await self.states.get(message.partition)
                if message.offset <= state.last_offset:
                    self.counts.reread += 1  # applied before a restart; its effects are durable
                elif is_mark(event):
                    await self._route(pending)
                    await self._mark(event.value, state, message.offset, message.key)
                else:
                    await self._take(event, state, pending)
                # Only now: a commit inside _mark or _take must not ack the record it waits for.
                self._unacked.append(event)
            await self._route(pending)
            self._publish_contexts()
            if self._due():
                await self._commit()

    async def assign(self, partitions: set[int]) -> None:
        async with self.lock:
            self.owned = set(partitions)

    async def restore(self, partitions: set[int]) -> None:
        """Restore owned ``partitions`` now rather than at their first record: a quiet partition's
        users then have their contexts (the endpoint's replica) before any new event arrives."""
        async with self.lock:
            for partition in sorted(partitions & self.owned):
                await self.states.get(partition)

    async def revoke(self, partitions: set[int]) -> None:
        """The group moves ``partitions`` away: forget their state and their uncommitted work,
        unacked, so the next owner re-reads it (a batch in progress finishes first: the lock)."""
        async with self.lock:
            await self._committed()  # acks what it read of them: the next owner starts after it
            self.owned -= partitions
            self.states.revoke(partitions)
            for partition in partitions:
                self._rows.pop(partition, None)
            self._unacked = [e for e in self._unacked if e.message.partition not in partitions]

    async def commit_if_due(self) -> None:
        """From a timer: an idle stream still makes its last records durable."""
        async with self.lock:
            if self._committing is not None and self._committing.done():
                await self._committed()  # raises a failed commit's error even when the stream is idle
            if self._unacked and self._due():
                await self._commit()

    async def _take(self, event: Any, state: PartitionState, pending: dict[int, list[PendingWindow]]) -> None:
        message, raw = event.message, event.value
        partition, offset = message.partition, message.offset
        try:
            if raw is None:
                raise SchemaError("empty value (a tombstone); send an Interaction v1 JSON object", None)
            interaction = decode_interaction(raw)
        except SchemaError as error:
            letter = DeadLetter.of(error, INTERACTIONS, partition, offset, message.key, raw or b"", now_ms())
            self._deliveries.append(await self.send_dead_letter(letter.to_bytes()))
            self.counts.dead_letters += 1
        else:
            if interaction.event_id in state.seen:
                self.counts.duplicates += 1  # re-sent under an id already accepted
            else:
                await self._close_by_watermark(interaction.ts_ms, state, offset, pending)
                published_ms = round(message.timestamp * MS_PER_SECOND)  # Faust gives the record's time in seconds
                self._accept(interaction, state, partition, offset, published_ms, pending)
        state.advance(offset)  # last: a commit before this point must re-read this record

    async def _close_by_watermark(
        self, ts_ms: int, state: PartitionState, offset: int, pending: dict[int, list[PendingWindow]]
    ) -> None:
        """Close the slices an event's time has passed: commit, forward their marks, then
        record them in the clock (the same order as a replayer's mark)."""
        watermark, clock = self.settings.watermark, state.clock
        if (
            watermark is None
            or watermark.slice_of(ts_ms) <= clock.open_slice
            or clock.slice_at(offset) < clock.open_slice
        ):
            return
        await self._route(pending)
        await self._commit(wait=True)
        closing = PartitionClock(list(clock.mark_offsets))
        for closed in closing.watermark_marks(offset, ts_ms, watermark):
            await self._forward(SliceMark(closed, watermark.end_of(closed), "watermark", state.partition, now_ms()))
            self.counts.marks += 1
        clock.mark_offsets[:] = closing.mark_offsets
        state.clock_changed()

    def _accept(
        self,
        interaction: Interaction,
        state: PartitionState,
        partition: int,
        offset: int,
        published_ms: int,
        pending: dict[int, list[PendingWindow]],
    ) -> None:
        slice_index = state.clock.slice_at(offset)
        state.accept(interaction.event_id, interaction.ts_ms)
        rows = self._rows.get(partition) or self._rows.setdefault(partition, InteractionRows(partition))
        rows.add(interaction, slice_index, offset)
        self.counts.accepted += 1
        if not self._is_positive(interaction):
            self.counts.not_positive += 1
            return
        protocol = self.settings.config.protocol
        user = interaction.user_id
        updated, candidate = next_window(
            state.users.get(user),
            user,
            interaction.item_id,
            interaction.ts_ms,
            slice_index,
            protocol.context_len,
            shortest=protocol.shortest_context,
            across_slices=protocol.context_across_blocks,
        )
        state.set_user(user, updated)
        if self.contexts_changed is not None:
            self._changed.setdefault(partition, {})[user] = updated.recent
        if candidate is not None:
            item = PendingWindow(candidate, interaction.event_id, offset, published_ms, now_ms())
            pending.setdefault(partition, []).append(item)

    def _publish_contexts(self) -> None:
        if self.contexts_changed is not None:
            for partition, users in self._changed.items():
                self.contexts_changed(partition, users)
        self._changed = {}

    def _is_positive(self, interaction: Interaction) -> bool:
        threshold = self.settings.config.preprocess.min_rating
        return interaction.rating is None or threshold is None or interaction.rating >= threshold

    def _due(self) -> bool:
        waited = time.monotonic() - self._last_commit
        return waited >= self.settings.commit_interval_s or sum(map(len, self._rows.values())) >= (
            self.settings.commit_events
        )

    async def _mark(self, raw: bytes | None, state: PartitionState, offset: int, key: bytes | None) -> None:
        partition = state.partition
        try:
            mark = SliceMark.from_bytes(raw or b"")
        except SchemaError as error:
            state.advance(offset)
            letter = DeadLetter.of(error, INTERACTIONS, partition, offset, key, raw or b"", now_ms())
            self._deliveries.append(await self.send_dead_letter(letter.to_bytes()))
            self.counts.dead_letters += 1
            return
        marks = state.clock.mark_offsets
        if marks and offset <= marks[-1]:
            state.advance(offset)  # known already: forwarded before a restart
            return
        await self._commit(wait=True)  # the slice's rows are durable before anyone may close it
        closed = state.clock.open_slice
        if closed != mark.slice:
            log.warning("partition %d: mark for slice %d arrived as its slice %d", partition, mark.slice, closed)
        await self._forward(SliceMark(closed, mark.end_ms, mark.origin, partition, now_ms()))
        state.clock.mark(offset)
        state.clock_changed()
        state.advance(offset)
        self.counts.marks += 1

    async def _forward(self, mark: SliceMark) -> None:
        await (await self.send_mark(mark.to_bytes()))

    async def _commit(self, *, wait: bool = False) -> None:
        """Make everything read so far durable, in the module docstring's order. The work is
        taken now and finished in the background while the agent reads on (``wait``: before
        returning); one commit at a time, so deltas reach the log in order."""
        await self._committed()
        deliveries, self._deliveries = self._deliveries, []
        rows = [r for r in self._rows.values() if len(r)]
        self._rows = {}
        deltas = self.states.take()
        unacked, self._unacked = self._unacked, []
        self._last_commit = time.monotonic()
        self._committing = asyncio.ensure_future(self._make_durable(deliveries, rows, deltas, unacked))
        if wait:
            await self._committed()

    async def _make_durable(
        self, deliveries: list[Awaitable[Any]], rows: list[InteractionRows], deltas: TakenDeltas, unacked: list[Any]
    ) -> None:
        await asyncio.gather(*deliveries)
        if rows:
            await asyncio.to_thread(write_rows, self.store_root, rows)
        await self.states.log(deltas)
        for event in unacked:
            await self.ack(event)
        self.counts.commits += 1

    async def _committed(self) -> None:
        """Wait for the commit in flight, if any (its error, if it failed, is raised here)."""
        committing, self._committing = self._committing, None
        if committing is not None:
            await committing

    async def _route(self, pending: dict[int, list[PendingWindow]]) -> None:
        """Route the windows ``pending`` holds (streams/routing_pass.py, in a worker thread, so the
        loop stays free for Faust's consumer) and send one batch record per partition; their
        deliveries are awaited at the next commit. Not overlapped with reading the next batch:
        at a few dozen windows a batch the forward pass is mostly Python and holds the GIL, and
        an overlapping pass measured slower (BENCHMARKS.md, issue #16)."""
        batches = [(partition, windows) for partition, windows in pending.items() if windows]
        pending.clear()
        if not batches:
            return
        encoded = await asyncio.to_thread(encode_routed, batches, self.serving.state, self.settings.config)
        for batch in encoded:
            self._deliveries.append(await self.send_batch(batch.value))
            self.counts.windows += batch.windows
            self.trace.produced(batch.windows, batch.windows)
