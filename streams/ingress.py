"""The ingress: validate, deduplicate, window, embed, route; one batch of events at a time.

For every batch, effects become durable in this order: dead letters and
routed windows are delivered first, then the tables (user windows, seen event
ids, slice clocks) are updated, and only then does Faust ack the batch. A
crash anywhere re-reads events whose windows may already be out; the editor
keeps windows by key, so a repeat changes nothing. Some of the table updates
may be saved too: ``seen`` keeps where each event id was first read, so the
same event at the same position is a re-read, not a duplicate, and a user's
state knows the last position it took in, so no event is applied twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from raie.online.candidates import Candidate
from raie.online.slice_clock import PartitionClock
from raie.online.user_state import UserState, next_window
from schemas import DeadLetter, Interaction, RoutedWindow, SchemaError, SliceMark
from schemas.routed_window import window_id
from streams.events import is_mark, now_ms
from streams.serving import ServingState
from streams.settings import WorkerSettings
from streams.tables import get, put
from streams.topic_names import INTERACTIONS

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """A window waiting for its batch's embedding pass, with where it came from."""

    candidate: Candidate
    event_id: str
    partition: int
    offset: int
    ingested_at_ms: int


_Updates = dict[tuple[int, str], tuple[Any, int, Any]]
"""(id(table), key) -> (table, changelog partition, value): the last value per key,
so a user with many events in a batch costs one changelog record, not one each."""


@dataclass
class IngressCounts:
    accepted: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    not_positive: int = 0
    windows: int = 0
    marks: int = 0


@dataclass
class Ingress:
    settings: WorkerSettings
    serving: ServingState
    users: Any  # Faust table: user_id -> UserState JSON
    seen: Any  # Faust table: event_id -> [partition, offset] where it was first read
    clocks: Any  # Faust table: str(partition) -> mark offsets
    send_window: Any  # async (bytes, is_mark) -> delivery future
    send_dead_letter: Any  # async (bytes) -> delivery future
    counts: IngressCounts = field(default_factory=IngressCounts)

    async def process(self, events: Sequence[Any]) -> None:
        """One batch, in order; a slice mark flushes what came before it."""
        pending: list[_Pending] = []
        deliveries: list[Awaitable[Any]] = []
        updates: _Updates = {}
        users: dict[str, UserState] = {}
        clocks: dict[int, PartitionClock] = {}
        seen_now: dict[str, tuple[int, int]] = {}
        for event in events:
            message = event.message
            partition, offset, raw = message.partition, message.offset, event.value
            clock = clocks.get(partition) or clocks.setdefault(partition, self._clock(partition))
            if is_mark(event):
                await self._flush(pending, deliveries, updates)
                await self._mark(raw, clock, partition, offset)
                continue
            try:
                if raw is None:
                    raise SchemaError("empty value (a tombstone); send an Interaction v1 JSON object", None)
                interaction = Interaction.from_bytes(raw)
            except SchemaError as error:
                letter = DeadLetter.of(error, INTERACTIONS, partition, offset, message.key, raw or b"", now_ms())
                deliveries.append(await self.send_dead_letter(letter.to_bytes()))
                self.counts.dead_letters += 1
                continue
            first_seen = seen_now.get(interaction.event_id) or _first_read(get(self.seen, interaction.event_id))
            if first_seen is not None and first_seen != (partition, offset):
                self.counts.duplicates += 1  # re-sent; the same position is a re-read after a restart
                continue
            seen_now[interaction.event_id] = (partition, offset)
            if self.settings.watermark is not None:
                for closed in clock.watermark_marks(offset, interaction.ts_ms, self.settings.watermark):
                    await self._flush(pending, deliveries, updates)
                    end = self.settings.watermark.end_of(closed)
                    await self._forward_mark(SliceMark(closed, end, "watermark", partition, now_ms()))
                updates[(id(self.clocks), str(partition))] = (self.clocks, partition, clock.to_json())
            slice_index = clock.slice_at(offset)
            self.counts.accepted += 1
            updates[(id(self.seen), interaction.event_id)] = (self.seen, partition, [partition, offset])
            if not self._is_positive(interaction):
                self.counts.not_positive += 1
                continue
            user = interaction.user_id
            state = users.get(user) or _load_user(self.users, user)
            if state is not None and state.contains(partition, offset):
                continue  # its window went out before the state was saved
            protocol = self.settings.config.protocol
            updated, candidate = next_window(
                state,
                user,
                interaction.item_id,
                interaction.ts_ms,
                slice_index,
                protocol.context_len,
                shortest=protocol.shortest_context,
                across_slices=protocol.context_across_blocks,
            )
            users[user] = updated.applied_at(partition, offset)
            updates[(id(self.users), user)] = (self.users, partition, users[user].to_json())
            if candidate is not None:
                pending.append(_Pending(candidate, interaction.event_id, partition, offset, now_ms()))
        await self._flush(pending, deliveries, updates)

    def _is_positive(self, interaction: Interaction) -> bool:
        threshold = self.settings.config.preprocess.min_rating
        return interaction.rating is None or threshold is None or interaction.rating >= threshold

    def _clock(self, partition: int) -> PartitionClock:
        stored = get(self.clocks, str(partition))
        return PartitionClock.from_json(stored) if stored is not None else PartitionClock()

    async def _mark(self, raw: bytes, clock: PartitionClock, partition: int, offset: int) -> None:
        try:
            mark = SliceMark.from_bytes(raw)
        except SchemaError as error:
            letter = DeadLetter.of(error, INTERACTIONS, partition, offset, None, raw, now_ms())
            await (await self.send_dead_letter(letter.to_bytes()))
            self.counts.dead_letters += 1
            return
        closed = clock.mark(offset)
        if closed is None:
            return  # re-read after a restart: forwarded the first time
        if closed != mark.slice:
            log.warning("partition %d: mark for slice %d arrived as its slice %d", partition, mark.slice, closed)
        await self._forward_mark(SliceMark(closed, mark.end_ms, mark.origin, partition, now_ms()))
        await (await put(self.clocks, partition, str(partition), clock.to_json()))
        self.counts.marks += 1

    async def _forward_mark(self, mark: SliceMark) -> None:
        await (await self.send_window(mark.to_bytes(), True))

    async def _flush(self, pending: list[_Pending], deliveries: list[Awaitable[Any]], updates: _Updates) -> None:
        """Deliver the batch's windows and dead letters, then save the state they came from."""
        if pending:
            deliveries += [await self.send_window(w.to_bytes(), False) for w in await self._routed(pending)]
            self.counts.windows += len(pending)
        await asyncio.gather(*deliveries)
        saved = [await put(table, partition, key, value) for (_, key), (table, partition, value) in updates.items()]
        await asyncio.gather(*saved)
        pending.clear()
        deliveries.clear()
        updates.clear()

    async def _routed(self, pending: list[_Pending]) -> list[RoutedWindow]:
        """Embed and route the windows that can be: none of slice 0, and none before
        the Set-up model exists (another partition may still be in slice 0, so waiting
        for it here could wait for this very partition). The editor represents the
        windows that arrive without an embedding when it closes their slice."""
        routable = [i for i, p in enumerate(pending) if p.candidate.slice > 0 and self.serving.state is not None]
        routed = [_routed_window(p, None, None, None, None, None) for p in pending]
        if not routable:
            return routed
        reps = await self.serving.embed([pending[i].candidate.context for i in routable])
        routes, regions, version = self.serving.route(reps)
        for row, i in enumerate(routable):
            embedding = tuple(float(v) for v in reps[row])
            p1, p2 = float(routes.p1[row]), float(routes.p2[row])
            routed[i] = _routed_window(pending[i], embedding, int(regions[row]), p1, p2, version)
        return routed


def _first_read(stored: Any) -> tuple[int, int] | None:
    """Where a seen event id was first read; tables written before positions were
    kept hold its slice number instead, which counts as read somewhere else."""
    if stored is None:
        return None
    return (int(stored[0]), int(stored[1])) if isinstance(stored, list) else (-1, -1)


def _load_user(table: Any, user: str) -> UserState | None:
    stored = get(table, user)
    return UserState.from_json(stored) if stored is not None else None


def _routed_window(
    p: _Pending,
    embedding: tuple[float, ...] | None,
    region: int | None,
    p1: float | None,
    p2: float | None,
    version: int | None,
) -> RoutedWindow:
    c = p.candidate
    return RoutedWindow(
        window_id=window_id(c.user_id, c.slice, c.position),
        user_id=c.user_id,
        slice=c.slice,
        position=c.position,
        context=c.context,
        target=c.target,
        ts_ms=c.ts_ms,
        event_id=p.event_id,
        embedding=embedding,
        region_id=region,
        p1=p1,
        p2=p2,
        bank_version=version,
        partition=p.partition,
        offset=p.offset,
        ingested_at_ms=p.ingested_at_ms,
    )
