"""Periodic snapshots of a partition's state, so that recovery replays a bounded stretch of the state log.

One file per input partition in the store's stream-state directory, replaced
atomically: a crash while saving leaves the previous snapshot (and at most a
stray temp file, which is never read). The snapshot records the state log
offset of the newest delta in it; recovery loads it and folds in only the
deltas after that offset (PartitionState.apply).

Saving runs in a worker thread on a copy (PartitionState.copy_for_snapshot),
so the event loop never waits for the encoding or the fsync.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import msgspec

from raie.online.slice_clock import PartitionClock
from raie.online.user_state import UserState
from raie.store.files import atomic_write_bytes
from streams.partition_state import SEEN_HORIZON_MS, PartitionState, SeenIds, StateLogError, seal, unseal

SNAPSHOT_KIND = "raie.partition-state.snapshot"
SNAPSHOT_VERSION = 1
"""Bump when _Snapshot's fields (or UserState's) change shape; an old file then fails with a clear error."""


class _Snapshot(msgspec.Struct, array_like=True, frozen=True):
    """The file's body. ``seen`` is a map in acceptance order, so eviction resumes where it stopped."""

    partition: int
    last_offset: int
    log_offset: int
    clock: list[int]
    users: dict[str, UserState]
    seen: Mapping[str, int]
    """Decoded as a dict; a Mapping so that SeenIds.by_id() is encoded without a copy."""


_BODY = msgspec.msgpack.Decoder(_Snapshot)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while a snapshot is decoded.

    Decoding creates several tracked objects per user (the state, its dict,
    its tuples), none of them garbage; the collector would scan them over and
    over, which measured as a third or more of a 100k-user load on a 2-core
    machine. Re-enabled only if it was on: a caller that keeps it off is left
    alone, and of two loads in threads the one that turned it off turns it on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def snapshot_path(root: Path, partition: int) -> Path:
    return root / f"p={partition}.msgpack"


def save_snapshot(root: Path, state: PartitionState) -> None:
    """Replace the partition's snapshot with ``state``, atomically and durably.

    ``state`` must not change meanwhile: pass a copy_for_snapshot() when calling from a thread."""
    body = _Snapshot(
        state.partition,
        state.last_offset,
        state.log_offset,
        state.clock.mark_offsets,
        state.users,
        state.seen.by_id(),
    )
    data = seal(SNAPSHOT_KIND, SNAPSHOT_VERSION, body)
    atomic_write_bytes(snapshot_path(root, state.partition), data)


def load_snapshot(root: Path, partition: int, horizon_ms: int = SEEN_HORIZON_MS) -> PartitionState | None:
    """The partition's last snapshot, or None when it has none; StateLogError naming the file when it is unreadable."""
    path = snapshot_path(root, partition)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    fix = f"delete {path} to rebuild partition {partition}'s state from the state log"
    try:
        with _collector_paused():
            body = _BODY.decode(unseal(raw, SNAPSHOT_KIND, SNAPSHOT_VERSION))
    except StateLogError as error:
        raise StateLogError(f"{path}: {error} ({fix})") from error
    except msgspec.DecodeError as error:
        raise StateLogError(f"{path}: malformed snapshot body: {error} ({fix})") from error
    if body.partition != partition:
        raise StateLogError(f"{path}: holds partition {body.partition}, not {partition} ({fix})")
    return PartitionState(
        body.partition,
        body.users,
        SeenIds.restored(body.seen, horizon_ms),
        PartitionClock(body.clock),
        body.last_offset,
        body.log_offset,
    )
