"""Compaction: fold the many small files of one group of partitions into one file, without duplicates.

An append-only sink (``dedupe_by`` set) writes one file per flush, and a
re-read after a crash may write rows again. Compacting a group (for example
one closed slice of ``interactions``) rewrites all its files as one
``compacted.parquet`` that keeps one row per dedupe key: the first in
partition order, the row the view would keep.

Invariant: a dedupe key is in at most one compacted file of a table. The view
relies on it to read compacted files without a window; compaction keeps it by
checking the group's keys against the other compacted files (a scan of their
key column) and giving each shared key to its first row.

Crash safety, in the order of the steps:

1. rows of other compacted files that lose a shared key to this group are
   removed from those files (the winning row is still in this group's inputs);
2. the compacted file is written atomically (temp file, fsync, rename);
3. the inputs are removed.

A crash after any step leaves every row readable and every key once in the
compacted files; inputs still present are uncompacted files, which the view
deduplicates against the compacted ones. Running compaction again redoes the
steps on what is there and reaches the same single file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from raie.store.errors import StoreError
from raie.store.files import atomic_write_parquet, remove_durably
from raie.store.partitions import COMPACTED_FILE, compacted_path, partition_dir, partition_glob
from raie.store.sqltypes import quote_literal
from raie.store.tables import TableSpec
from raie.store.views import FILE_COLUMN, dedupe_keys, first_order, keep_first, read_files, same_key, typed_columns

GROUP_ROWS = "raie_compaction_group"
"""Name under which the group's deduplicated rows are visible to DuckDB while
compaction runs; the prefix keeps it clear of the store's views."""

LOSERS = "raie_compaction_losers"
"""Name under which the rows that lose a shared key are visible to DuckDB."""


@dataclass(frozen=True)
class CompactionPlan:
    """What compacting one group means on disk: the file to write and the files it replaces."""

    group_dir: Path
    target: Path
    inputs: tuple[Path, ...]
    """Uncompacted files of the group, sorted; empty when the group is compacted already."""

    @property
    def needed(self) -> bool:
        return bool(self.inputs)

    @property
    def sources(self) -> list[Path]:
        """Every file whose rows the compacted file holds: the inputs and an earlier compacted file."""
        return [*self.inputs, self.target] if self.target.is_file() else list(self.inputs)


@dataclass(frozen=True)
class CompactionResult:
    """What one compaction did; zeros when there was nothing to do."""

    files_removed: int
    rows: int
    """Rows in the compacted file."""
    keys_given_up: int
    """Rows dropped because another compacted file holds the key's first row."""
    keys_taken: int
    """Rows removed from other compacted files because this group holds the key's first row."""


NOTHING_DONE = CompactionResult(files_removed=0, rows=0, keys_given_up=0, keys_taken=0)


def plan_compaction(spec: TableSpec, table_dir: Path, key: Mapping[str, object]) -> CompactionPlan:
    """The files of the group that ``key`` names, a value for each of the first partition columns."""
    if not spec.dedupe_by:
        raise StoreError(
            f"table '{spec.name}' has no dedupe_by key: compacting it would turn a rewrite of a "
            "compacted partition into duplicate rows; only append-only tables can be compacted"
        )
    depth = len(key)
    if set(key) != set(spec.partition_by[:depth]) or depth >= len(spec.partition_by):
        raise StoreError(
            f"table '{spec.name}' is partitioned by {list(spec.partition_by)}; a compaction key names "
            f"the first of them but not all (e.g. {spec.partition_by[:1]}), got {sorted(key)}"
        )
    columns = spec.partition_by[:depth]
    group_dir = partition_dir(table_dir, columns, [key[c] for c in columns])
    below = len(spec.partition_by) - depth
    target = compacted_path(group_dir, below)
    files = sorted(group_dir.glob(partition_glob(below))) if group_dir.is_dir() else []
    finer = [f for f in files if f.name == COMPACTED_FILE and f != target]
    if finer:
        raise StoreError(f"{group_dir} holds groups compacted by a longer key ({finer[0]}); compact by that key")
    return CompactionPlan(group_dir, target, tuple(f for f in files if f != target))


def compact(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, table_dir: Path, key: Mapping[str, object]
) -> CompactionResult:
    """Compact the group ``key`` names; a no-op when it has no uncompacted file."""
    plan = plan_compaction(spec, table_dir, key)
    if not plan.needed:
        return NOTHING_DONE
    result = write_compacted(con, spec, table_dir, plan)
    remove_inputs(plan)
    return result


def write_compacted(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, table_dir: Path, plan: CompactionPlan
) -> CompactionResult:
    """Steps 1 and 2: settle keys shared with other compacted files, then write the compacted file."""
    # Sorted in partition order: rows of one partition stay together, which
    # compresses better and keeps the file in the order the view reads it.
    first = (
        f"SELECT {typed_columns(spec)} FROM {read_files(plan.sources)} {keep_first(spec)} ORDER BY {first_order(spec)}"
    )
    rows = _run(con, first)
    others = sorted(
        f
        for f in table_dir.glob(partition_glob(len(spec.partition_by)))
        if f.name == COMPACTED_FILE and f != plan.target
    )
    taken = 0
    if others:
        with _registered(con, GROUP_ROWS, rows):
            losers = _losers(con, spec, others)
            with _registered(con, LOSERS, losers):
                taken = _take_keys(con, spec, losers)
                kept = _run(
                    con,
                    f"SELECT g.* FROM {GROUP_ROWS} AS g ANTI JOIN {_lost(spec, None)} AS l "
                    f"ON {same_key(spec, 'g', 'l')} ORDER BY {first_order(spec)}",
                )
    else:
        kept = rows
    atomic_write_parquet(plan.target, _conform(spec, kept))
    return CompactionResult(len(plan.inputs), kept.num_rows, rows.num_rows - kept.num_rows, taken)


def remove_inputs(plan: CompactionPlan) -> None:
    """Step 3: remove the files the compacted file replaces, and the directories they leave empty."""
    remove_durably(plan.inputs, keep=plan.group_dir)


def _losers(con: duckdb.DuckDBPyConnection, spec: TableSpec, others: list[Path]) -> pa.Table:
    """The rows that lose a key this group shares with ``others``: key columns plus their file (NULL: this group).

    The common case, no shared key, costs one scan of the others' key column.
    """
    keys = dedupe_keys(spec)
    shared = _run(
        con,
        f"SELECT {keys} FROM (SELECT {keys} FROM {read_files(others)}) AS o "
        f"SEMI JOIN {GROUP_ROWS} AS g ON {same_key(spec, 'o', 'g')}",
    )
    if shared.num_rows == 0:
        return _run(con, f"SELECT {keys}, NULL::VARCHAR AS {FILE_COLUMN} FROM {GROUP_ROWS} WHERE false")
    rivals = (
        f"SELECT o.* FROM (SELECT {typed_columns(spec)}, {FILE_COLUMN} FROM {read_files(others, with_file=True)}) AS o "
        f"SEMI JOIN {GROUP_ROWS} AS g ON {same_key(spec, 'o', 'g')}"
    )
    mine = (
        f"SELECT g.*, NULL::VARCHAR AS {FILE_COLUMN} FROM {GROUP_ROWS} AS g "
        f"SEMI JOIN ({rivals}) AS o ON {same_key(spec, 'g', 'o')}"
    )
    order = f"PARTITION BY {keys} ORDER BY {first_order(spec)}"
    return _run(
        con,
        f"SELECT {keys}, {FILE_COLUMN} FROM ({mine} UNION ALL {rivals}) QUALIFY row_number() OVER ({order}) > 1",
    )


def _take_keys(con: duckdb.DuckDBPyConnection, spec: TableSpec, losers: pa.Table) -> int:
    """Remove from other compacted files the rows whose key this group holds first; how many."""
    taken = 0
    for name in sorted({f for f in losers.column(FILE_COLUMN).to_pylist() if f is not None}):
        path = Path(name)
        kept = _run(
            con,
            f"SELECT f.* FROM (SELECT {typed_columns(spec)} FROM {read_files([path])}) AS f "
            f"ANTI JOIN {_lost(spec, path)} AS l ON {same_key(spec, 'f', 'l')}",
        )
        taken += pq.ParquetFile(path).metadata.num_rows - kept.num_rows
        atomic_write_parquet(path, _conform(spec, kept))
    return taken


def _lost(spec: TableSpec, path: Path | None) -> str:
    """The keys lost by the rows of ``path`` (None: of this group), as a subquery."""
    where = f"{FILE_COLUMN} IS NULL" if path is None else f"{FILE_COLUMN} = {quote_literal(str(path))}"
    return f"(SELECT {dedupe_keys(spec)} FROM {LOSERS} WHERE {where})"


def _conform(spec: TableSpec, rows: pa.Table) -> pa.Table:
    try:
        return rows.cast(spec.schema)
    except ValueError as exc:
        raise StoreError(f"table '{spec.name}' holds rows that do not fit its spec: {exc}") from exc


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> Iterator[None]:
    """Make ``rows`` queryable as ``name`` inside the ``with`` block."""
    con.register(name, rows)
    try:
        yield
    finally:
        con.unregister(name)


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise StoreError(f"compaction query failed: {exc}\n  SQL: {sql}") from exc
