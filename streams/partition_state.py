"""What the ingress remembers about one ``interactions`` partition, and the delta records that log it.

The ingress keeps each input partition's state (user windows, seen event ids,
the slice clock) in plain memory and logs it as one delta per partition and
batch: the ids accepted, the users changed (last value only) and the clock
when it moved. A worker that takes the partition over loads the newest
snapshot (streams/state_snapshot.py) and folds in the deltas logged after it,
so recovery reads a bounded log instead of one record per event and user.

Deltas are msgpack (msgspec) inside a tagged, versioned envelope: a reader
that meets another record kind or a format it does not know says so instead
of misreading it. Never pickle: the log is data, not code.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import msgspec

from raie.online.slice_clock import PartitionClock
from raie.online.user_state import UserState
from streams.topic_names import WEEK_MS

SEEN_HORIZON_MS: int = WEEK_MS
"""How much event time an accepted id is remembered for, behind the newest event of its partition.

Tied to the retention of ``interactions`` (TopicSpec in streams/topic_names.py):
a re-send can only be told apart from a new event while its original is
remembered. An event re-sent more than this much *event time* after the
newest event of its partition is no longer recognised as a duplicate; that is
out of scope, as it was for a producer re-sending past the topic's retention."""

DELTA_KIND = "raie.partition-state.delta"
DELTA_VERSION = 1
"""Bump when StateDelta's fields (or UserState's) change shape; readers refuse other versions."""

_BEFORE_ANY_EVENT = -(1 << 63)
"""Lower than any millisecond timestamp, so the first id added sets the newest time."""


class StateLogError(ValueError):
    """A delta or snapshot could not be read back; the message says what is wrong and how to recover."""


class _Envelope(msgspec.Struct, array_like=True, frozen=True):
    """[kind, version, body]: checked before the body is decoded, so a wrong or newer record fails clearly."""

    kind: str
    version: int
    body: msgspec.Raw


# msgspec keeps no state between calls, so one encoder serves the event loop
# and snapshot threads alike.
_ENCODER = msgspec.msgpack.Encoder()
_ENVELOPE = msgspec.msgpack.Decoder(_Envelope)


def seal(kind: str, version: int, body: object) -> bytes:
    """``body`` as msgpack inside an envelope naming its kind and format version."""
    return _ENCODER.encode(_Envelope(kind, version, msgspec.Raw(_ENCODER.encode(body))))


def unseal(raw: bytes, kind: str, version: int) -> msgspec.Raw:
    """The body of an envelope made by :func:`seal`; StateLogError when it is not one of ``kind`` at ``version``."""
    try:
        envelope = _ENVELOPE.decode(raw)
    except msgspec.DecodeError as error:
        raise StateLogError(
            f"not a {kind} record ({error}); it is truncated or was written by something else"
        ) from error
    if envelope.kind != kind:
        raise StateLogError(f"a {envelope.kind!r} record where a {kind!r} record was expected")
    if envelope.version != version:
        raise StateLogError(
            f"{kind} format version {envelope.version}; this code reads version {version} "
            "(run the version that wrote it, or rebuild the state from the input topic)"
        )
    return envelope.body


class SeenIds:
    """Event ids accepted on one partition, kept for a horizon of event time so memory stays flat on a long run.

    Ids are evicted from the oldest accepted while the oldest is more than the
    horizon behind the newest time seen. Events are mostly in time order per
    partition, so that is amortised O(1) per id; an id that arrives out of
    order, already older than the horizon, lingers until it reaches the head:
    it costs a little memory for a while and is never wrong."""

    def __init__(self, horizon_ms: int = SEEN_HORIZON_MS) -> None:
        if horizon_ms <= 0:
            # The newest id itself must survive its own eviction pass.
            raise ValueError(f"horizon_ms must be positive, got {horizon_ms}")
        self.horizon_ms = horizon_ms
        self._ts: dict[str, int] = {}
        # A deque alongside the dict because a dict cannot drop its first key
        # in O(1); both hold the same ids in the same (insertion) order.
        self._order: deque[str] = deque()
        self._newest = _BEFORE_ANY_EVENT

    @classmethod
    def restored(cls, ts_by_id: Mapping[str, int], horizon_ms: int = SEEN_HORIZON_MS) -> SeenIds:
        """Ids read back from a snapshot, in the order they were accepted; evicts again in case the horizon shrank."""
        seen = cls(horizon_ms)
        seen._ts = dict(ts_by_id)
        seen._order = deque(seen._ts)
        seen._newest = max(seen._ts.values(), default=_BEFORE_ANY_EVENT)
        seen._evict()
        return seen

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ts

    def __len__(self) -> int:
        return len(self._ts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SeenIds):
            return NotImplemented
        return self.horizon_ms == other.horizon_ms and list(self._ts.items()) == list(other._ts.items())

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"SeenIds({len(self)} ids, horizon_ms={self.horizon_ms})"

    def add(self, event_id: str, ts_ms: int) -> None:
        """Remember ``event_id``; an id already remembered keeps its first time (a re-add is a replay)."""
        if event_id in self._ts:
            return
        self._ts[event_id] = ts_ms
        self._order.append(event_id)
        if ts_ms > self._newest:
            self._newest = ts_ms
            self._evict()

    def _evict(self) -> None:
        oldest_kept = self._newest - self.horizon_ms
        # Never empties: the newest id is at most 0 ms behind itself.
        while self._order and self._ts[self._order[0]] < oldest_kept:
            del self._ts[self._order.popleft()]

    def items(self) -> Iterable[tuple[str, int]]:
        """(event id, ts_ms) in the order they were accepted."""
        return self._ts.items()

    def by_id(self) -> Mapping[str, int]:
        """ts_ms by event id, in acceptance order, without a copy (for encoding a snapshot)."""
        return self._ts

    def copy(self) -> SeenIds:
        twin = SeenIds(self.horizon_ms)
        twin._ts = self._ts.copy()
        twin._order = self._order.copy()
        twin._newest = self._newest
        return twin


@dataclass(frozen=True)
class StateDelta:
    """One partition's changes over one batch: what a replica folds in to catch up."""

    partition: int
    last_offset: int
    seen: tuple[tuple[str, int], ...]
    """(event_id, ts_ms) accepted in this batch, in order."""
    users: tuple[tuple[str, UserState], ...]
    """Changed user states, the last value of each user."""
    clock: tuple[int, ...] | None
    """The clock's full json when it changed, else None."""

    def to_bytes(self) -> bytes:
        return seal(DELTA_KIND, DELTA_VERSION, self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> StateDelta:
        body = unseal(raw, DELTA_KIND, DELTA_VERSION)
        try:
            return _DELTA_BODY.decode(body)
        except msgspec.DecodeError as error:
            raise StateLogError(f"{DELTA_KIND} v{DELTA_VERSION} with a malformed body: {error}") from error


_DELTA_BODY = msgspec.msgpack.Decoder(StateDelta)


@dataclass
class PartitionState:
    """Everything the ingress remembers about one ``interactions`` partition."""

    partition: int
    users: dict[str, UserState]
    seen: SeenIds
    clock: PartitionClock
    last_offset: int = -1
    """Every record at or below it has been fully applied (windows, rows, this state)."""
    log_offset: int = -1
    """Offset in the state log of the newest delta folded into this state."""
    _seen_since: list[tuple[str, int]] = field(default_factory=list, init=False, repr=False, compare=False)
    _users_since: dict[str, UserState] = field(default_factory=dict, init=False, repr=False, compare=False)
    _clock_moved: bool = field(default=False, init=False, repr=False, compare=False)
    _taken_offset: int = field(default=-1, init=False, repr=False, compare=False)
    """last_offset as of the last delta taken (or folded in): a later one is a change to log."""

    def __post_init__(self) -> None:
        self._taken_offset = self.last_offset

    @classmethod
    def empty(cls, partition: int, horizon_ms: int = SEEN_HORIZON_MS) -> PartitionState:
        return cls(partition, {}, SeenIds(horizon_ms), PartitionClock())

    def accept(self, event_id: str, ts_ms: int) -> None:
        self.seen.add(event_id, ts_ms)
        self._seen_since.append((event_id, ts_ms))

    def set_user(self, user_id: str, state: UserState) -> None:
        self.users[user_id] = state
        self._users_since[user_id] = state

    def clock_changed(self) -> None:
        """The clock was mutated in place (mark, watermark): include it in the next delta."""
        self._clock_moved = True

    def advance(self, offset: int) -> None:
        self.last_offset = max(self.last_offset, offset)

    def logged(self, log_offset: int) -> None:
        """The delta taken last is durably in the state log at ``log_offset``: a snapshot may now include it."""
        self.log_offset = max(self.log_offset, log_offset)

    def _has_changes(self) -> bool:
        return (
            bool(self._seen_since or self._users_since or self._clock_moved) or self.last_offset != self._taken_offset
        )

    def take_delta(self) -> StateDelta | None:
        """The changes since the last call, or None when there are none; clears them."""
        if not self._has_changes():
            return None
        delta = StateDelta(
            self.partition,
            self.last_offset,
            tuple(self._seen_since),
            tuple(self._users_since.items()),
            tuple(self.clock.mark_offsets) if self._clock_moved else None,
        )
        self._seen_since = []
        self._users_since = {}
        self._clock_moved = False
        self._taken_offset = self.last_offset
        return delta

    def apply(self, delta: StateDelta, log_offset: int) -> None:
        """Recovery: fold in a delta read back from the state log at ``log_offset``.

        Deltas at or below ``log_offset`` are already in this state (the
        snapshot's) and are skipped. Each delta holds whole values, so folding
        the log in order ends at the live state. What is folded in is already
        logged: it is not reported again by take_delta."""
        if log_offset <= self.log_offset:
            return
        if delta.partition != self.partition:
            raise StateLogError(
                f"state log offset {log_offset}: a delta of partition {delta.partition} "
                f"in the log of partition {self.partition}"
            )
        for event_id, ts_ms in delta.seen:
            self.seen.add(event_id, ts_ms)
        self.users.update(delta.users)
        if delta.clock is not None:
            self.clock.mark_offsets = list(delta.clock)
        self.last_offset = max(self.last_offset, delta.last_offset)
        self._taken_offset = self.last_offset
        self.log_offset = log_offset

    def copy_for_snapshot(self) -> PartitionState:
        """A copy that a worker thread may encode while this state moves on; take it on the event loop.

        Cheap: user states are immutable, so copying the dict copies references.
        Only a logged state may be saved, else the snapshot would hold changes the
        log lacks: take_delta, deliver it and call logged() first."""
        if self._has_changes():
            raise ValueError(
                f"partition {self.partition}: changes not yet taken as a delta; take_delta and log it first"
            )
        clock = PartitionClock(list(self.clock.mark_offsets))
        return PartitionState(
            self.partition, dict(self.users), self.seen.copy(), clock, self.last_offset, self.log_offset
        )
