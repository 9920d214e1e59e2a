"""Store write throughput (rows/s) and the latency of metrics queries over 1M windows.

Writes ``--windows`` rows of the ``windows`` table (the stream's widest
per-window table) as ``--slices`` slice partitions of one run, two ways:

- ``arrow``: a columnar table per slice through ``Store.replace_partition``;
- ``rows``: the same slices as Python dicts, the form the slice session
  hands the stream's editor (``pa.Table.from_pylist`` plus the write).

Then it rewrites one slice (a re-closed slice: its rows replaced, never
duplicated) and times three queries over the whole table from a fresh
read-only open (what ``raie metrics`` does; the cold time includes the open): Recall@10 per slice and method
from the ranks, the ``regions`` report's per-region scoring, and the
``slices`` report over the ``metrics`` table. Each query's latency is the
median of ``--repeat`` runs, plus the first (cold) run.

Values are random but shaped like a stream's: ~40 % eval rows with ranks
over 9,742 items, the rest train rows with ops and confidences.

    python bench/store_throughput.py [--windows 1000000] [--slices 10] [--dir var/bench-store]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from raie.evaluation import Ranking
from raie.online.rows import metric_rows
from raie.slice_reports import run_report
from raie.store import Store, table_spec

RUN = {"run_id": "bench", "seed": 0}
METHODS = ("raie", "raie-wo-kr", "base")
N_ITEMS = 9_742
"""ml-latest-small's movies: ranks fall in 1..N_ITEMS."""

PER_SLICE_RECALL_SQL = """
SELECT slice, method, count(*) AS windows, avg(CAST(rank <= 10 AS DOUBLE)) AS recall10
FROM windows WHERE role = 'eval' GROUP BY ALL ORDER BY slice, method
"""


def window_rows(slice_index: int, n: int, rng: np.random.Generator) -> pa.Table:
    evaluated = rng.random(n) < 0.4
    ops = np.array(["update", "expand", "add"])[rng.integers(0, 3, n)]
    return pa.table(
        {
            "slice": pa.array(np.full(n, slice_index), pa.int32()),
            "role": np.where(evaluated, "eval", "train"),
            "user_id": pa.array(rng.integers(0, 600, n).astype(str)),
            "position": pa.array(rng.integers(10, 500, n), pa.int32()),
            "ts_ms": rng.integers(800_000_000_000, 1_500_000_000_000, n),
            "region_id": pa.array(rng.integers(-1, 12, n), pa.int32()),
            "op": pa.array(ops, mask=evaluated),
            "p1": rng.random(n),
            "p2": rng.random(n) / 2,
            "adapter": pa.array(np.full(n, "global"), mask=~evaluated),
            "rank": pa.array(rng.integers(1, N_ITEMS, n), mask=~evaluated),
        }
    )


def write_all(root: Path, slices: list[pa.Table], as_rows: bool) -> float:
    started = time.perf_counter()
    with Store.open(root) as store:
        for i, part in enumerate(slices):
            method = METHODS[i % len(METHODS)]
            rows = part.to_pylist() if as_rows else part
            store.replace_partition("windows", RUN | {"method": method, "slice": i}, rows)
    return time.perf_counter() - started


def latency(root: Path, query: str, repeat: int, run: bool = False) -> tuple[float, float]:
    """(cold, median warm) seconds of one query; cold includes the read-only open, as ``raie metrics`` pays it."""
    times = []
    started = time.perf_counter()
    with Store.open(root, create=False, read_only=True) as store:
        for _ in range(repeat + 1):
            if run:
                run_report(store, query)
            else:
                store.query(query)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
    return times[0], statistics.median(times[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1_000_000)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the store (default: a temp dir)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    per_slice = args.windows // args.slices
    slices = [window_rows(i, per_slice, rng) for i in range(args.slices)]
    base = args.dir or Path(tempfile.mkdtemp(prefix="raie-store-bench-"))
    shutil.rmtree(base, ignore_errors=True)
    total = per_slice * args.slices
    print(f"windows table: {total:,} rows in {args.slices} slice partitions ({table_spec('windows').name})")
    print(f"{'write path':<28}{'seconds':>10}{'rows/s':>14}")
    for label, as_rows in (("arrow table per slice", False), ("python rows per slice", True)):
        root = base / ("rows" if as_rows else "arrow")
        seconds = write_all(root, slices, as_rows)
        print(f"{label:<28}{seconds:>10.2f}{total / seconds:>14,.0f}")
    root = base / "arrow"
    with Store.open(root) as store:
        for i in range(args.slices):
            scored = Ranking(rng.integers(1, N_ITEMS, 3_000), rng.integers(0, 600, 3_000))
            store.replace_partition("metrics", RUN | {"method": "raie", "slice": i}, metric_rows(i, scored))
        started = time.perf_counter()
        store.replace_partition("windows", RUN | {"method": METHODS[0], "slice": 0}, slices[0])
        rewrite = time.perf_counter() - started
        rows = store.query("SELECT count(*) AS n FROM windows").column("n")[0].as_py()
    print(f"re-closing slice 0 ({per_slice:,} rows): {rewrite:.2f} s; table still {rows:,} rows (no duplicates)")
    print(f"\n{'query over ' + format(rows, ',') + ' windows':<44}{'cold s':>9}{'median s':>10}")
    for label, query, is_report in (
        ("Recall@10 per slice and method (ranks)", PER_SLICE_RECALL_SQL, False),
        ("report regions (ranks per region, joins)", "regions", True),
        ("report slices (metrics table)", "slices", True),
    ):
        cold, warm = latency(root, query, args.repeat, is_report)
        print(f"{label:<44}{cold:>9.3f}{warm:>10.3f}")
    if args.dir is None:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
