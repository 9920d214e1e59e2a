"""The store: Parquet files per table plus a DuckDB catalog of views over them.

Layout under ``root``::

    store.json                      layout version + raie version (marks a store)
    catalog.duckdb                  one VIEW per registered table, rebuilt on open
    <table>/<col>=<val>/.../part.parquet
    <table>/<col>=<val>/_compacted/compacted.parquet   a compacted group (see compaction.py)

Concurrency: a DuckDB database file admits one read-write process at a time,
and :meth:`Store.open` holds ``catalog.duckdb`` open read-write for as long as
the store is open, so the catalog's lock is also the store's single-writer
lock: a second process that opens the same store read-write gets a
:class:`StoreError`. Processes that only read (``raie metrics`` while the stream
runs) open with ``read_only=True``: their views live in an in-memory DuckDB
database, take no lock, and see each partition either before or after a
replacement, never half-written. A ``Store`` wraps one DuckDB connection,
which is not safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self

import duckdb
import pyarrow as pa

from raie.store import migrations
from raie.store.compaction import CompactionResult, compact
from raie.store.conform import conform
from raie.store.errors import StoreError
from raie.store.files import atomic_write_parquet
from raie.store.manifest import manifest_path, read_manifest_version, write_manifest
from raie.store.partitions import PART_FILE, partition_dir, split_by_partition
from raie.store.sqltypes import quote_identifier, quote_literal
from raie.store.tables import table_spec, table_specs
from raie.store.views import create_view_sql, has_compacted, has_data

CATALOG_FILE = "catalog.duckdb"
"""Derived data: views only, rebuilt on every open, so it can be deleted."""

VANISHED_FILE_RETRIES = 3
"""Compaction removes the files it folded in. A reader in another process that
listed a table's files just before may find one gone when it opens it; running
the query again lists the files afresh. A few tries cover a compaction racing
the same query twice; a file that stays missing is a real error."""

VIEW_COMMENT_PREFIX = "raie.store: "
"""Marks the views the store manages, so stale ones are dropped on open while
views and tables a user created in the catalog are left alone."""


def check_root(root: Path, *, read_only: bool = False) -> bool:
    """StoreError unless ``root`` is a store this raie can open, or a place to create one;
    True when a store is already there. Creates nothing."""
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root} is a file, not a store directory")
    if manifest_path(root).is_file():
        found = read_manifest_version(root)
        if found > migrations.SCHEMA_VERSION:
            raise StoreError(
                f"store {root} has layout version {found}, newer than the version "
                f"{migrations.SCHEMA_VERSION} this raie understands; upgrade raie"
            )
        if found < migrations.SCHEMA_VERSION and read_only:
            raise StoreError(
                f"store {root} has layout version {found} and needs migrating to "
                f"{migrations.SCHEMA_VERSION}; open it once without read_only"
            )
        return True
    if root.is_dir() and any(root.iterdir()):
        raise StoreError(
            f"{root} is not empty and not a raie store (it has no {manifest_path(root).name}); "
            "pick an empty or new directory"
        )
    return False


def write_partitions(root: Path, table: str, rows: pa.Table) -> int:
    """Replace the partitions of ``table`` that ``rows`` touch, as :meth:`Store.write` does, without the catalog.

    For writers whose partitions no other process writes, beside the store's
    single writer: each stream worker writes the ``interactions`` chunks of
    the input partitions it owns (a chunk is named by its partition and first
    offset), while only the worker running the region editor opens the store."""
    spec = table_spec(table)
    data = conform(spec, rows)
    if data.num_rows == 0:
        return 0  # no partition to replace; an empty write never clears data
    table_dir = root / spec.name
    for values, part in split_by_partition(data, spec.partition_by):
        directory = partition_dir(table_dir, spec.partition_by, values)
        atomic_write_parquet(directory / PART_FILE, part)
        # Files under any other name are leftovers of an older layout or a
        # crashed writer; the partition's rows are exactly the new file.
        for stale in directory.glob("*.parquet"):
            if stale.name != PART_FILE:
                stale.unlink()
    return int(data.num_rows)


def _prepare_root(root: Path, *, create: bool, read_only: bool) -> None:
    """Check that ``root`` is a store at a supported version, or create one."""
    if check_root(root, read_only=read_only):
        return
    if not create or read_only:
        raise StoreError(f"no store at {root}; create one with Store.open({str(root)!r})")
    root.mkdir(parents=True, exist_ok=True)
    write_manifest(root, migrations.SCHEMA_VERSION)


class Store:
    """Typed, partitioned tables on disk, queryable with SQL through DuckDB."""

    def __init__(self, root: Path, connection: duckdb.DuckDBPyConnection, *, read_only: bool):
        """Use :meth:`Store.open`; this only wires an opened connection."""
        self._root = root
        self._con: duckdb.DuckDBPyConnection | None = connection
        self._read_only = read_only
        # Views over Parquet files; others are typed empty placeholders that a
        # first write must swap for a real view (a glob matching no file is an
        # error in DuckDB, so placeholders cannot read files directly).
        self._data_views: set[str] = set()
        # Tables registered after open (a feature module imported later) get
        # their view on first use; this tracks which views exist already.
        self._view_names: set[str] = set()

    @classmethod
    def open(cls, root: Path | str, *, create: bool = True, read_only: bool = False) -> Self:
        """Open the store at ``root``, creating it when ``create`` and absent.

        An older layout is migrated step by step; a newer one, or a non-empty
        directory that is not a store, raises :class:`StoreError`.
        """
        path = Path(root).resolve()
        _prepare_root(path, create=create, read_only=read_only)
        database = ":memory:" if read_only else str(path / CATALOG_FILE)
        try:
            connection = duckdb.connect(database)
        except duckdb.Error as exc:
            raise StoreError(
                f"cannot open {path / CATALOG_FILE} ({exc}); another process may hold "
                "the store open for writing: close it, or open with read_only=True"
            ) from exc
        # If migrating or building views fails, release the catalog (and its
        # lock) instead of leaking it until garbage collection.
        with ExitStack() as on_failure:
            on_failure.callback(connection.close)
            # Migrate only once the catalog lock is held, so that no other
            # writer sees a half-migrated layout.
            if not read_only:
                migrations.migrate(path, read_manifest_version(path))
            store = cls(path, connection, read_only=read_only)
            # Zoned timestamps are stored in UTC; show them in UTC whatever the host zone.
            store._execute("SET TimeZone = 'UTC'")
            store.refresh_views()
            on_failure.pop_all()
        return store

    @property
    def root(self) -> Path:
        """The absolute store directory."""
        return self._root

    def close(self) -> None:
        """Close the catalog and release the writer lock; closing twice is harmless."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def tables(self) -> list[str]:
        """The names of every registered table, sorted."""
        return [spec.name for spec in table_specs()]

    def refresh_views(self) -> None:
        """Recreate one view per registered table and drop managed views of unknown tables."""
        known = set(self.tables())
        stale = self._execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal "
            "AND database_name = current_database() AND starts_with(comment, ?)",
            [VIEW_COMMENT_PREFIX],
        ).to_pylist()
        for row in stale:
            if row["view_name"] not in known:
                self._execute(f"DROP VIEW {quote_identifier(row['view_name'])}")
        for name in known:
            self._create_view(name)

    def write(self, table: str, rows: pa.Table) -> int:
        """Replace the partitions that ``rows`` touch with ``rows``; return the row count.

        Rows are checked and cast to the table's spec, then grouped by its
        partition columns. Each partition is replaced atomically, so writing
        the same run/method/seed again replaces its rows instead of adding
        to them. Partitions are replaced one after another: a crash midway
        leaves some partitions old and some new, never a partition half-written.
        """
        self._check_writable()
        written = write_partitions(self._root, table, rows)
        if written and table not in self._data_views:
            self._create_view(table)
        return written

    def replace_partition(
        self, table: str, key: Mapping[str, object], rows: pa.Table | Sequence[Mapping[str, object]]
    ) -> int:
        """Make the partition at ``key`` (a value for every partition column) hold exactly ``rows``.

        ``rows`` need not repeat the key's columns. Unlike :meth:`write`, no
        rows removes the partition: a slice closed again with nothing to
        record must not keep what its first close recorded.
        """
        self._check_writable()
        spec = table_spec(table)
        if set(key) != set(spec.partition_by):
            raise StoreError(
                f"table '{spec.name}' is partitioned by {list(spec.partition_by)}; the key names {sorted(key)}"
            )
        if isinstance(rows, pa.Table):
            data = rows.drop_columns([c for c in spec.partition_by if c in rows.column_names])
            for column in spec.partition_by:
                data = data.append_column(column, pa.array([key[column]] * data.num_rows))
        else:
            data = pa.Table.from_pylist([{**r, **key} for r in rows], schema=spec.schema)
        if data.num_rows:
            return self.write(table, data)
        directory = partition_dir(self._root / spec.name, spec.partition_by, [key[c] for c in spec.partition_by])
        for stale in directory.glob("*.parquet"):
            stale.unlink()
        self._create_view(spec.name)  # the table may have no data files left
        return 0

    def compact(self, table: str, key: Mapping[str, object]) -> CompactionResult:
        """Fold the files of the partitions under ``key`` into one file, one row per dedupe key.

        ``key`` gives values for the first partition columns, not all of them
        (``{"slice": 3}`` for ``interactions``): every file below it, however
        many writes made them, becomes one ``compacted.parquet``. Only tables
        with ``dedupe_by`` can be compacted; a group without uncompacted files
        is left alone. See :mod:`raie.store.compaction` for why a crash at any
        point loses and duplicates nothing.
        """
        self._check_writable()
        spec = table_spec(table)
        result = compact(self._connection(), spec, self._root / spec.name, key)
        if result.files_removed:
            self._create_view(spec.name)  # to the form that reads compacted files without a window
        return result

    def read(self, table: str) -> pa.Table:
        """All rows of ``table`` with the spec's exact Arrow types."""
        spec = table_spec(table)
        result = self.query(f"SELECT * FROM {quote_identifier(spec.name)}")
        try:
            return result.cast(spec.schema)
        except ValueError as exc:
            raise StoreError(f"table '{spec.name}' holds rows that do not fit its spec: {exc}") from exc

    def query(self, sql: str, params: list[object] | None = None) -> pa.Table:
        """Run ``sql`` (with ``?`` placeholders bound to ``params``) and return its rows."""
        for spec in table_specs():
            if spec.name not in self._view_names:
                self._create_view(spec.name)
        return self._execute(sql, params)

    def _create_view(self, name: str) -> None:
        spec = table_spec(name)
        table_dir = self._root / spec.name
        with_data = has_data(spec, table_dir)
        compacted = with_data and bool(spec.dedupe_by) and has_compacted(spec, table_dir)
        self._execute(create_view_sql(spec, table_dir, with_data=with_data, compacted=compacted))
        comment = quote_literal(VIEW_COMMENT_PREFIX + spec.description)
        self._execute(f"COMMENT ON VIEW {quote_identifier(spec.name)} IS {comment}")
        if with_data:
            self._data_views.add(spec.name)
        else:
            self._data_views.discard(spec.name)
        self._view_names.add(spec.name)

    def _check_writable(self) -> None:
        self._connection()
        if self._read_only:
            raise StoreError(f"store {self._root} is open read-only; reopen it to write")

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError(f"store {self._root} is closed; open it again with Store.open")
        return self._con

    def _execute(self, sql: str, params: list[object] | None = None) -> pa.Table:
        connection = self._connection()
        retries = VANISHED_FILE_RETRIES
        while True:
            try:
                relation = connection.sql(sql, params=params)
                return pa.table({}) if relation is None else relation.to_arrow_table()
            except duckdb.IOException as exc:
                if retries == 0:
                    raise StoreError(f"query failed: {exc}\n  SQL: {sql}") from exc
                retries -= 1
            except duckdb.Error as exc:
                raise StoreError(f"query failed: {exc}\n  SQL: {sql}") from exc
