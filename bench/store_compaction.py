"""Compaction of the stream's ``interactions`` chunks: files, bytes, seconds, and query latency before and after.

Writes ``--chunks`` sink flushes of ``--rows`` interactions each through
``Store.write``, exactly as the stream's sink does (one file per flush,
partitioned by slice and chunk), spread over ``--slices`` slices. Like a real
stream they hold duplicates: every ``--reread-every``-th flush is written
again from a later first offset (a re-read after a crash: the same events
under another chunk name), and the first message of every flush re-sends an
event sent about ``RESEND_LAG`` offsets earlier (sometimes across a slice mark).

Then it compacts every slice with ``Store.compact`` and times two queries
from a fresh read-only open (what ``raie metrics`` does), before and after:
a count of events, and a per-slice group-by. Last, it writes one more slice
of flushes without compacting it, the state a running stream is in (history
compacted, the open slice in chunks), and times them again. Each latency is
the median of ``--repeat`` runs, plus the first (cold) run, which includes
the open. The script fails if the view returns other rows after compaction,
or ever holds other than one row per distinct event id in the files.

    python bench/store_compaction.py [--chunks 2000] [--rows 500] [--slices 10] [--dir var/bench-compaction]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from raie.store import Store, table_spec

TABLE = "interactions"
RESEND_LAG = 1_000
"""How far back a re-sent event was first sent: two flushes of 500, so some
re-sends cross a slice mark and must be settled between compacted slices."""
EPOCH_S = 1_500_000_000

COUNT_SQL = "SELECT count(*) AS events, count(DISTINCT user_id) AS users FROM interactions"
GROUP_SQL = """
SELECT slice, count(*) AS events, count(DISTINCT user_id) AS users, round(avg(rating), 6) AS rating
FROM interactions GROUP BY slice ORDER BY slice
"""


def flush(first: int, n: int, slice_index: int, rng: np.random.Generator) -> pa.Table:
    """One sink flush of partition 0 covering offsets ``first..first+n``."""
    offsets = np.arange(first, first + n)
    ids = offsets.copy()
    # The message at ``first`` re-sends the event at ``first - RESEND_LAG + 1``
    # (not at a flush's first offset, which is itself a re-send).
    ids[0] = max(0, first - RESEND_LAG) + 1
    users = ids % 6_000
    return pa.table(
        {
            "event_id": pa.array([f"e{i}" for i in ids]),
            "user_id": pa.array([f"u{u}" for u in users]),
            "item_id": pa.array([f"i{i}" for i in rng.integers(0, 9_742, n)]),
            "rating": pa.array(np.round(rng.uniform(0.5, 5.0, n) * 2) / 2),
            "ts": pa.array([datetime.fromtimestamp(EPOCH_S + int(i), tz=UTC) for i in ids]),
            "slice": pa.array(np.full(n, slice_index), pa.int32()),
            "source": pa.array(["bench"] * n),
            "partition": pa.array(np.zeros(n), pa.int32()),
            "offset": pa.array(offsets),
            "chunk": pa.array([f"p0-{first:012d}"] * n),
        }
    ).cast(table_spec(TABLE).schema)


def write_chunks(root: Path, flushes: range, rows: int, slice_of: Callable[[int], int], reread_every: int) -> int:
    """Write the flushes numbered ``flushes``, each to slice ``slice_of(number)``; rows written."""
    rng = np.random.default_rng(flushes.start)
    written = 0
    with Store.open(root) as store:
        for index in flushes:
            slice_index = slice_of(index)
            written += store.write(TABLE, flush(index * rows, rows, slice_index, rng))
            if index % reread_every == reread_every - 1:
                written += store.write(TABLE, flush(index * rows + rows // 2, rows - rows // 2, slice_index, rng))
    return written


def disk(root: Path) -> tuple[int, int]:
    """(files, bytes) of the table's Parquet files."""
    files = list((root / TABLE).rglob("*.parquet"))
    return len(files), sum(f.stat().st_size for f in files)


def latency(root: Path, sql: str, repeat: int) -> tuple[float, float, pa.Table]:
    """(cold, median warm) seconds of one query, and its result; cold includes the read-only open."""
    times = []
    started = time.perf_counter()
    with Store.open(root, create=False, read_only=True) as store:
        for _ in range(repeat + 1):
            result = store.query(sql)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
    return times[0], statistics.median(times[1:]), result


def compact_all(root: Path, slices: int) -> tuple[float, int, int]:
    """Compact every slice; (seconds, rows given up to an earlier slice, files removed)."""
    given_up = removed = 0
    started = time.perf_counter()
    with Store.open(root) as store:
        for slice_index in range(slices):
            result = store.compact(TABLE, {"slice": slice_index})
            given_up += result.keys_given_up
            removed += result.files_removed
    return time.perf_counter() - started, given_up, removed


def queries(root: Path, repeat: int) -> dict[str, tuple[float, float, pa.Table]]:
    return {label: latency(root, sql, repeat) for label, sql in (("count", COUNT_SQL), ("group by slice", GROUP_SQL))}


def check_distinct(root: Path, events: int) -> None:
    """Fail unless the view holds one row per event id written (counted over the raw files)."""
    glob = str(root / TABLE / "*" / "*" / "*.parquet")
    with Store.open(root, create=False, read_only=True) as store:
        raw = store.query(f"SELECT count(DISTINCT event_id) AS n FROM read_parquet('{glob}')").column("n")[0].as_py()
    if raw != events:
        raise SystemExit(f"the view holds {events:,} events, the files {raw:,} distinct event ids")


def print_table(stages: dict[str, tuple[int, int, dict[str, tuple[float, float, pa.Table]]]]) -> None:
    print(f"\n{'':<24}" + "".join(f"{name:>16}" for name in stages))
    print(f"{'files':<24}" + "".join(f"{files:>16,}" for files, _, _ in stages.values()))
    print(f"{'bytes':<24}" + "".join(f"{size:>16,}" for _, size, _ in stages.values()))
    for label in ("count", "group by slice"):
        print(f"{label + ' median s':<24}" + "".join(f"{q[label][1]:>16.3f}" for _, _, q in stages.values()))
        print(f"{label + ' cold s':<24}" + "".join(f"{q[label][0]:>16.3f}" for _, _, q in stages.values()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2_000)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--reread-every", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the store (default: a temp dir)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="raie-compaction-bench-"))
    shutil.rmtree(root, ignore_errors=True)

    started = time.perf_counter()
    written = write_chunks(
        root, range(args.chunks), args.rows, lambda i: i * args.slices // args.chunks, args.reread_every
    )
    write_s = time.perf_counter() - started
    print(f"wrote {written:,} rows in {args.chunks:,} flushes of {args.rows} (+ re-reads): {write_s:.1f} s")
    stages = {"before": (*disk(root), queries(root, args.repeat))}
    seconds, given_up, removed = compact_all(root, args.slices)
    print(f"compaction of {args.slices} slices: {seconds:.2f} s ({removed:,} files folded in)")
    print(f"re-sent events settled between slices: {given_up:,}")
    stages["compacted"] = (*disk(root), queries(root, args.repeat))
    for label in ("count", "group by slice"):
        if not stages["compacted"][2][label][2].equals(stages["before"][2][label][2]):
            raise SystemExit(f"the view changed with compaction ({label})")
    check_distinct(root, stages["compacted"][2]["count"][2].column("events")[0].as_py())

    # The stream's steady state: compacted history plus the open slice's chunks.
    per_slice = args.chunks // args.slices
    more = range(args.chunks, args.chunks + per_slice)
    write_chunks(root, more, args.rows, lambda _: args.slices, args.reread_every)
    stages["+ open slice"] = (*disk(root), queries(root, args.repeat))
    check_distinct(root, stages["+ open slice"][2]["count"][2].column("events")[0].as_py())
    print_table(stages)
    events = stages["compacted"][2]["count"][2].column("events")[0].as_py()
    print(f"\nview: {events:,} distinct events before and after compaction (of {written:,} rows written)")
    print(f"+ open slice: {per_slice} more flushes, uncompacted, into slice {args.slices}")
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
