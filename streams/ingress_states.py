"""The ingress's memory of each input partition: restored on first use, logged once per commit.

Each input partition ``p`` of ``interactions`` has a :class:`PartitionState`
(user windows, seen event ids, slice clock, the last applied offset). A commit
sends ONE delta record per changed partition to ``<app id>-ingress-state``,
partition ``p`` (instead of a changelog record per event and per user), and
every ``snapshot_every`` deltas a snapshot of the whole state goes to the
store, so that a restore reads the snapshot plus a bounded tail of deltas.

A worker restores a partition the first time it sees a record of it, and
forgets it when the group takes it away (:meth:`IngressStates.revoke`): a
partition that comes back may have been advanced by another worker meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from raie.errors import RuntimeFailure
from streams.connect import reaching
from streams.partition_state import PartitionState, StateDelta
from streams.state_snapshot import load_snapshot, save_snapshot

log = logging.getLogger(__name__)

STATE_DIR = "stream-state"
"""Inside the store: ``stream-state/<app id>/`` holds each input partition's latest snapshot."""

SNAPSHOT_EVERY = 200
"""Deltas between snapshots of a partition: a restore replays at most this many
(a few seconds), while a snapshot of a large user table (tens of MB) is written
only every few minutes of a busy stream."""

RESTORE_POLL_MS = 1_000

SendDelta = Callable[[int, bytes], Awaitable[Any]]
"""async (partition, value) -> a future of the record's metadata (its offset)."""


def snapshot_root(store: Path, app_id: str) -> Path:
    return store / STATE_DIR / app_id


@dataclass(frozen=True)
class TakenDeltas:
    """One commit's deltas: (live state, its delta, a snapshot copy where one is due)."""

    deltas: list[tuple[PartitionState, StateDelta, PartitionState | None]]

    def __iter__(self) -> Iterator[tuple[PartitionState, StateDelta, PartitionState | None]]:
        return iter(self.deltas)


@dataclass
class IngressStates:
    bootstrap: str
    topic: str
    """``<app id>-ingress-state``: one partition per input partition."""
    snapshots: Path
    send_delta: SendDelta
    snapshot_every: int = SNAPSHOT_EVERY
    on_restored: Callable[[int], None] | None = None
    """Told each partition this worker restores (the serving process takes its whole user table)."""
    owned: dict[int, PartitionState] = field(default_factory=dict)
    _since_snapshot: dict[int, int] = field(default_factory=dict)
    _snapshotting: set[asyncio.Task[None]] = field(default_factory=set)

    async def get(self, partition: int) -> PartitionState:
        state = self.owned.get(partition)
        if state is None:
            state = await asyncio.to_thread(self._restore, partition)
            self.owned[partition] = state
            self._since_snapshot[partition] = 0
            if self.on_restored is not None:
                self.on_restored(partition)
        return state

    def contexts(self, partition: int) -> dict[str, tuple[str, ...]]:
        """Every user's latest positives (oldest first) in an owned partition."""
        state = self.owned.get(partition)
        return {} if state is None else {user_id: user.recent for user_id, user in state.users.items()}

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions the group moved away; uncommitted changes go with them (their events are re-read)."""
        for partition in partitions:
            self.owned.pop(partition, None)
            self._since_snapshot.pop(partition, None)

    def take(self) -> TakenDeltas:
        """Each owned partition's changes since the last take, as deltas; :meth:`log` makes them durable.

        Where a snapshot is due, the copy is taken now, while the state holds exactly
        what the delta will make durable: the ingress reads on while the delta is sent."""
        taken: list[tuple[PartitionState, StateDelta, PartitionState | None]] = []
        for partition, state in self.owned.items():
            delta = state.take_delta()
            if delta is not None:
                due = self._since_snapshot.get(partition, 0) + 1 >= self.snapshot_every
                taken.append((state, delta, state.copy_for_snapshot() if due else None))
        return TakenDeltas(taken)

    async def log(self, taken: TakenDeltas) -> None:
        """Send the deltas; returns once they are in the log. A due snapshot is then written in a thread."""
        sent = [(state, copy, await self.send_delta(state.partition, delta.to_bytes())) for state, delta, copy in taken]
        for state, copy, future in sent:
            offset = int((await future).offset)
            state.logged(offset)
            self._since_snapshot[state.partition] = self._since_snapshot.get(state.partition, 0) + 1
            if copy is not None:
                copy.logged(offset)  # the copy holds exactly what the log holds up to this delta
                self._snapshot(copy)

    def _snapshot(self, copy: PartitionState) -> None:
        """Write a snapshot copy in a thread."""
        self._since_snapshot[copy.partition] = 0
        task = asyncio.create_task(asyncio.to_thread(save_snapshot, self.snapshots, copy))
        self._snapshotting.add(task)
        task.add_done_callback(self._snapshot_done)

    def _snapshot_done(self, task: asyncio.Task[None]) -> None:
        self._snapshotting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Not fatal: the log still holds every delta; the next snapshot tries again.
            log.error("could not write an ingress snapshot: %s", task.exception())

    def _restore(self, partition: int) -> PartitionState:
        """The snapshot, then every later delta of ``partition`` (blocking: runs in a thread)."""
        state = load_snapshot(self.snapshots, partition) or PartitionState.empty(partition)
        deltas = 0
        for offset, raw in read_log(self.bootstrap, self.topic, partition, state.log_offset + 1):
            state.apply(StateDelta.from_bytes(raw), offset)
            deltas += 1
        log.info(
            "input partition %d restored: %d users, %d seen ids, last offset %d (%d deltas after the snapshot)",
            partition,
            len(state.users),
            len(state.seen),
            state.last_offset,
            deltas,
        )
        return state


def read_log(bootstrap: str, topic: str, partition: int, start: int) -> Iterable[tuple[int, bytes]]:
    """(offset, value) of every record of ``topic``/``partition`` from offset ``start`` to the end."""
    with reaching(bootstrap):
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        first, end = consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]
        if start < first:
            raise RuntimeFailure(
                f"{topic} partition {partition} starts at offset {first}, after the snapshot's {start - 1}: "
                "the broker deleted deltas the restore needs (a worker stopped longer than the topic's "
                "retention); delete the store's stream-state folder and reset the group to re-read interactions"
            )
        if start >= end:
            return
        consumer.seek(tp, start)
        while consumer.position(tp) < end:
            for record in consumer.poll(timeout_ms=RESTORE_POLL_MS).get(tp, []):
                if record.offset < end:
                    yield record.offset, record.value
    finally:
        consumer.close()
