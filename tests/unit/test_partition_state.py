"""Per-partition ingress state: one delta per batch, snapshots, and recovery that ends at the live state."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from raie.online.user_state import UserState
from streams.partition_state import (
    DELTA_KIND,
    DELTA_VERSION,
    SEEN_HORIZON_MS,
    PartitionState,
    SeenIds,
    StateDelta,
    StateLogError,
    seal,
)
from streams.state_snapshot import load_snapshot, save_snapshot, snapshot_path
from streams.topic_names import DAY_MS, WEEK_MS

pytestmark = pytest.mark.unit

PARTITION = 2
CONTEXT = 3


@dataclass(frozen=True)
class Event:
    offset: int
    event_id: str
    user: str
    item: str
    ts_ms: int


def events(count: int, *, start: int = 0, users: int = 5, seed: int = 0) -> list[Event]:
    rng = random.Random(seed + start)
    return [
        Event(o, f"e{o}", f"u{rng.randrange(users)}", f"i{rng.randrange(50)}", 1_000 * o)
        for o in range(start, start + count)
    ]


def ingest(state: PartitionState, batch: list[Event], *, mark_at: int | None = None) -> None:
    """What the ingress does with a batch, reduced to the state it keeps."""
    for event in batch:
        if event.offset == mark_at:
            state.clock.mark(event.offset)
            state.clock_changed()
        state.accept(event.event_id, event.ts_ms)
        previous = state.users.get(event.user) or UserState.empty(state.clock.open_slice)
        updated, _, _ = previous.in_slice(state.clock.open_slice).advance(event.item, CONTEXT)
        state.set_user(event.user, updated.applied_at(state.partition, event.offset))
        state.advance(event.offset)


def test_a_delta_survives_bytes_and_rebuilds_the_state_that_made_it() -> None:
    live = PartitionState.empty(PARTITION)
    ingest(live, events(20), mark_at=7)
    delta = live.take_delta()
    assert delta is not None
    assert StateDelta.from_bytes(delta.to_bytes()) == delta
    assert delta.clock == (7,) and len(delta.seen) == 20 and delta.last_offset == 19

    replica = PartitionState.empty(PARTITION)
    replica.apply(StateDelta.from_bytes(delta.to_bytes()), log_offset=0)
    live.logged(0)
    assert replica == live
    assert (replica.users, replica.clock, replica.last_offset) == (live.users, live.clock, 19)
    assert list(replica.seen.items()) == list(live.seen.items())
    assert replica.take_delta() is None, "what was folded in from the log is not logged again"


def test_a_snapshot_plus_the_deltas_after_it_is_the_live_state(tmp_path: Path) -> None:
    live = PartitionState.empty(PARTITION)
    log: list[StateDelta] = []
    for batch in range(5):
        ingest(live, events(30, start=30 * batch), mark_at=45 if batch == 1 else None)
        delta = live.take_delta()
        assert delta is not None
        log.append(StateDelta.from_bytes(delta.to_bytes()))
        live.logged(len(log) - 1)
        if batch == 1:
            save_snapshot(tmp_path, live.copy_for_snapshot())

    recovered = load_snapshot(tmp_path, PARTITION)
    assert recovered is not None and recovered.log_offset == 1 and recovered.last_offset == 59
    for log_offset, delta in enumerate(log):
        recovered.apply(delta, log_offset)
    assert recovered == live
    assert list(recovered.seen.items()) == list(live.seen.items())


def test_deltas_already_in_the_snapshot_are_skipped(tmp_path: Path) -> None:
    live = PartitionState.empty(PARTITION)
    ingest(live, events(10))
    live.take_delta()
    live.logged(4)
    save_snapshot(tmp_path, live.copy_for_snapshot())
    recovered = load_snapshot(tmp_path, PARTITION)
    assert recovered is not None
    stale = StateDelta(PARTITION, 999, (("old", 0),), (("u0", UserState.empty(9)),), (1, 2, 3))
    for log_offset in (0, 3, 4):
        recovered.apply(stale, log_offset)
    assert recovered == live


def test_a_delta_of_another_partition_is_refused() -> None:
    state = PartitionState.empty(PARTITION)
    with pytest.raises(StateLogError, match="partition 7 in the log of partition 2"):
        state.apply(StateDelta(7, 0, (), (), None), log_offset=0)


def test_take_delta_reports_nothing_when_nothing_changed() -> None:
    state = PartitionState.empty(PARTITION)
    assert state.take_delta() is None
    ingest(state, events(3))
    assert state.take_delta() is not None
    assert state.take_delta() is None, "taking a delta clears the changes"
    state.advance(1)
    assert state.take_delta() is None, "an offset already covered is no change"
    state.advance(10)
    moved = state.take_delta()
    assert moved == StateDelta(PARTITION, 10, (), (), None), "a batch of duplicates still moves the offset"


def test_the_last_value_of_a_user_in_a_batch_wins() -> None:
    state = PartitionState.empty(PARTITION)
    state.set_user("u", UserState(0, 1, ("a",)))
    state.set_user("v", UserState(0, 1, ("x",)))
    state.set_user("u", UserState(0, 2, ("a", "b")))
    delta = state.take_delta()
    assert delta is not None
    assert delta.users == (("u", UserState(0, 2, ("a", "b"))), ("v", UserState(0, 1, ("x",))))


def test_ids_older_than_the_horizon_are_forgotten() -> None:
    seen = SeenIds(horizon_ms=100)
    seen.add("a", 0)
    seen.add("b", 50)
    seen.add("c", 100)
    assert "a" in seen and len(seen) == 3, "exactly the horizon behind is still kept"
    seen.add("d", 151)
    assert "a" not in seen and "b" not in seen and "d" in seen
    seen.add("late", 10)
    assert "late" in seen, "an out-of-order old id lingers until it reaches the head"
    seen.add("e", 400)
    assert list(seen.items()) == [("e", 400)]
    seen.add("e", 1)
    assert list(seen.items()) == [("e", 400)], "a re-added id keeps its first time"


def test_seen_ids_stay_bounded_over_two_years_of_events() -> None:
    horizon_ms, total, span_ms = WEEK_MS, 1_000_000, 2 * 365 * DAY_MS
    step_ms = span_ms // total
    rng = random.Random(1)
    seen = SeenIds(horizon_ms)
    largest = 0
    for n in range(total):
        # Mostly in time order, with some events up to a day late.
        late = DAY_MS if rng.random() < 0.01 else 0
        seen.add(f"e{n}", n * step_ms - late)
        if n % 1000 == 0:
            largest = max(largest, len(seen))
    per_horizon = horizon_ms // step_ms
    assert largest <= per_horizon * 1.05, f"{largest} ids held, a horizon holds {per_horizon}"
    assert per_horizon < total // 50, "the run spans many horizons, so the bound means something"


def test_a_restored_set_evicts_again_when_the_horizon_shrank() -> None:
    seen = SeenIds.restored({"a": 0, "b": 50, "c": 100}, horizon_ms=60)
    assert list(seen.items()) == [("b", 50), ("c", 100)]
    assert SEEN_HORIZON_MS == WEEK_MS, "tied to the retention of interactions"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "truncated"),
        (b"\x93\xa1x", "truncated"),
        (b"not msgpack at all", "truncated"),
        (seal("raie.partition-state.snapshot", 1, []), "'raie.partition-state.snapshot' record where"),
        (seal(DELTA_KIND, DELTA_VERSION + 1, []), f"version {DELTA_VERSION + 1}; this code reads version"),
        (seal(DELTA_KIND, DELTA_VERSION, {"partition": "two"}), "malformed body"),
    ],
)
def test_unreadable_delta_bytes_say_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(StateLogError, match=message):
        StateDelta.from_bytes(raw)


def test_a_truncated_delta_is_refused() -> None:
    state = PartitionState.empty(PARTITION)
    ingest(state, events(5))
    delta = state.take_delta()
    assert delta is not None
    raw = delta.to_bytes()
    for cut in (1, len(raw) // 2, len(raw) - 1):
        with pytest.raises(StateLogError):
            StateDelta.from_bytes(raw[:cut])


def saved_state(root: Path) -> PartitionState:
    state = PartitionState.empty(PARTITION)
    ingest(state, events(40), mark_at=20)
    state.take_delta()
    state.logged(0)
    save_snapshot(root, state.copy_for_snapshot())
    return state


def test_a_corrupt_snapshot_names_the_file_and_the_fix(tmp_path: Path) -> None:
    saved_state(tmp_path)
    path = snapshot_path(tmp_path, PARTITION)
    raw = path.read_bytes()
    for broken in (raw[: len(raw) // 2], b"\x00garbage", raw[:-1]):
        path.write_bytes(broken)
        with pytest.raises(StateLogError, match=rf"{re.escape(str(path))}: .*delete {re.escape(str(path))} to rebuild"):
            load_snapshot(tmp_path, PARTITION)


def test_a_snapshot_of_another_partition_is_refused(tmp_path: Path) -> None:
    saved_state(tmp_path)
    snapshot_path(tmp_path, PARTITION).rename(snapshot_path(tmp_path, 5))
    with pytest.raises(StateLogError, match="holds partition 2, not 5"):
        load_snapshot(tmp_path, 5)


def test_a_leftover_temp_file_does_not_break_loading(tmp_path: Path) -> None:
    (tmp_path / f".p={PARTITION}.msgpack.0123abcd.tmp").write_bytes(b"half a snapsh")
    assert load_snapshot(tmp_path, PARTITION) is None, "no snapshot yet, whatever the crash left"
    state = saved_state(tmp_path)
    assert load_snapshot(tmp_path, PARTITION) == state
    assert sorted(p.name for p in tmp_path.iterdir())[-1] == f"p={PARTITION}.msgpack"


def test_the_snapshot_copy_is_consistent_and_refuses_unlogged_changes() -> None:
    state = PartitionState.empty(PARTITION)
    ingest(state, events(10), mark_at=5)
    with pytest.raises(ValueError, match="take_delta and log it first"):
        state.copy_for_snapshot()
    state.take_delta()
    copy = state.copy_for_snapshot()
    ingest(state, events(10, start=10), mark_at=15)
    assert len(copy.seen) == 10 and copy.clock.mark_offsets == [5] and copy.last_offset == 9
    assert copy.users != state.users


def test_snapshot_body_is_msgpack_not_pickle(tmp_path: Path) -> None:
    saved_state(tmp_path)
    kind, version, _ = msgspec.msgpack.decode(snapshot_path(tmp_path, PARTITION).read_bytes())
    assert (kind, version) == ("raie.partition-state.snapshot", 1)
