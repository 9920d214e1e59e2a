"""``replay --from-store``: re-publish the interactions a stream stored, slice by slice.

The ``interactions`` table holds every event a stream accepted, with the
slice it fell in and where it was read from. Re-publishing a slice sends its
events in the order the stream consumed them (time, then partition and
offset), with their original event ids, then closes the slice with a mark
on every partition, as ``raie replay`` does. The same stream deduplicates
them by event id; a fresh stream (another app id and store) rebuilds the
slice from them. The store is opened read-only, so a running worker may
keep writing to it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from raie.store import Store
from schemas import Interaction
from streams.producer import CountingProducer
from streams.replay import REPLAY_CLIENT_ID, ReplayError, ReplayReport, check_delivered, close_slice
from streams.topic_names import INTERACTIONS

EVENTS_SQL = """
SELECT event_id, user_id, item_id, rating, epoch_ms(ts) AS ts_ms, source
FROM interactions WHERE slice = ? ORDER BY ts, partition, "offset"
"""


class StoreReplayError(ReplayError):
    """The store does not hold what was asked for."""


def stored_slices(store: Store) -> list[int]:
    rows = store.query("SELECT DISTINCT slice FROM interactions ORDER BY slice").column("slice").to_pylist()
    return [int(s) for s in rows]


def replay_from_store(
    store_dir: Path, slices: Sequence[int] | None, bootstrap: str, *, marks: bool = True
) -> ReplayReport:
    """Publish each of ``slices`` (in the order given; None: every stored slice) from the store at ``store_dir``."""
    started = time.monotonic()
    with Store.open(store_dir, create=False, read_only=True) as store:
        available = stored_slices(store)
        slices = available if slices is None else slices
        missing = [s for s in slices if s not in available]
        if missing:
            listed = ", ".join(map(str, available)) or "none"
            raise StoreReplayError(f"{store_dir} holds no interactions of slice {missing[0]} (stored slices: {listed})")
        events = {s: store.query(EVENTS_SQL, [s]).to_pylist() for s in slices}
    sent = 0
    with CountingProducer(bootstrap, client_id=REPLAY_CLIENT_ID) as producer:
        partitions = producer.partitions_for(INTERACTIONS)
        for slice_index in slices:
            for row in events[slice_index]:
                event = Interaction(**row)
                producer.send(INTERACTIONS, event.to_bytes(), key=event.key())
                sent += 1
            if marks:
                last_ms = max(row["ts_ms"] for row in events[slice_index])
                close_slice(producer, partitions, slice_index, last_ms + 1)
    check_delivered(producer)
    return ReplayReport(
        events=sent,
        slices=len(slices),
        marks=len(slices) * len(partitions) if marks else 0,
        seconds=time.monotonic() - started,
    )
