"""SQL for the typed DuckDB view that exposes one table's Parquet files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from raie.store.partitions import COMPACTED_DIR, COMPACTED_FILE, partition_glob
from raie.store.sqltypes import quote_identifier, quote_literal, sql_type
from raie.store.tables import TableSpec

FILE_COLUMN = "_file"
"""The name DuckDB gives the path of the file each row came from; table columns
start with a letter, so it never hides one of them."""

IS_COMPACTED = f"parse_filename({FILE_COLUMN}) = {quote_literal(COMPACTED_FILE)}"
"""Tells compacted files from the others. DuckDB applies a filter on the file
name to the file list before reading, so each side of a view opens only its own files."""


def data_glob(spec: TableSpec, table_dir: Path) -> str:
    """The absolute glob of the table's data files."""
    return str(table_dir / partition_glob(len(spec.partition_by)))


def has_data(spec: TableSpec, table_dir: Path) -> bool:
    """Whether the table has at least one data file yet."""
    return table_dir.is_dir() and any(table_dir.glob(partition_glob(len(spec.partition_by))))


def has_compacted(spec: TableSpec, table_dir: Path) -> bool:
    """Whether any group of the table has been compacted (its file sits in a ``COMPACTED_DIR``)."""
    pattern = "/".join(["*"] * (len(spec.partition_by) - 1) + [COMPACTED_DIR, COMPACTED_FILE])
    return bool(spec.partition_by) and table_dir.is_dir() and any(table_dir.glob(pattern))


def typed_columns(spec: TableSpec) -> str:
    """The spec's columns in order, each cast to its spec type."""
    return ", ".join(
        f"CAST({quote_identifier(f.name)} AS {sql_type(f.type)}) AS {quote_identifier(f.name)}" for f in spec.schema
    )


def read_files(files: str | Sequence[Path], *, with_file: bool = False) -> str:
    """``read_parquet`` over a glob or a list of files, optionally with each row's file as ``FILE_COLUMN``.

    ``union_by_name`` lets files written before a column was added still be
    read (the column reads as NULL); ``hive_partitioning`` is off because every
    column, partition columns included, is stored in the files themselves.
    """
    paths = quote_literal(files) if isinstance(files, str) else f"[{', '.join(quote_literal(str(p)) for p in files)}]"
    named = f", filename={quote_literal(FILE_COLUMN)}" if with_file else ""
    return f"read_parquet({paths}, union_by_name=true, hive_partitioning=false{named})"


def dedupe_keys(spec: TableSpec) -> str:
    """The ``dedupe_by`` columns, quoted, for a PARTITION BY or a select list."""
    return ", ".join(quote_identifier(c) for c in spec.dedupe_by)


def first_order(spec: TableSpec) -> str:
    """Which of a key's rows is the one kept: the first in partition order.

    The other columns break ties (a row repeated within one partition), so the
    view and compaction always keep the same row.
    """
    leading = list(spec.partition_by) or list(spec.dedupe_by)
    rest = [name for name in spec.schema.names if name not in leading]
    return ", ".join(quote_identifier(c) for c in [*leading, *rest])


def keep_first(spec: TableSpec) -> str:
    """The QUALIFY clause that keeps one row per dedupe key."""
    return f"QUALIFY row_number() OVER (PARTITION BY {dedupe_keys(spec)} ORDER BY {first_order(spec)}) = 1"


def same_key(spec: TableSpec, left: str, right: str) -> str:
    """Join condition: rows ``left`` and ``right`` have the same dedupe key (NULLs equal, as in PARTITION BY)."""
    return " AND ".join(
        f"{left}.{quote_identifier(c)} IS NOT DISTINCT FROM {right}.{quote_identifier(c)}" for c in spec.dedupe_by
    )


def _deduplicated_view(spec: TableSpec, glob: str) -> str:
    """Compacted files as they are, and a window over the other files only.

    Compaction leaves every dedupe key in at most one compacted file, so a key
    can repeat only where an uncompacted ("loose") file holds it: those rows, and
    the compacted rows with the same key, go through the window; all other
    compacted rows are read straight, without sorting the whole history.
    """
    source = read_files(glob, with_file=True)
    columns = typed_columns(spec)
    match = same_key(spec, "c", "l")
    # Compacted rows are scanned where they are used, so the filter on the file
    # name prunes the file list; the loose rows, read three times, are read once.
    return (
        f"WITH compacted AS NOT MATERIALIZED (SELECT {columns} FROM {source} WHERE {IS_COMPACTED}), "
        f"loose AS MATERIALIZED (SELECT {columns} FROM {source} WHERE NOT {IS_COMPACTED}) "
        f"SELECT c.* FROM compacted AS c ANTI JOIN loose AS l ON {match} "
        "UNION ALL SELECT * FROM ("
        f"SELECT * FROM loose UNION ALL SELECT c.* FROM compacted AS c SEMI JOIN loose AS l ON {match}"
        f") {keep_first(spec)}"
    )


def create_view_sql(spec: TableSpec, table_dir: Path, *, with_data: bool, compacted: bool = False) -> str:
    """``CREATE OR REPLACE VIEW`` over the table's files, or a typed empty view.

    Every column is cast to its spec type, so the view's columns and order are
    the spec's whatever older files hold. A table with ``dedupe_by`` keeps one
    row per key, the first in partition order: with a window over all rows
    until a group is ``compacted``, then with a window over uncompacted rows
    only. Both forms are right whatever files come and go later; the first is
    cheaper while there is no compacted file to set apart.
    """
    name = quote_identifier(spec.name)
    if with_data:
        glob = data_glob(spec, table_dir)
        body = f"SELECT {typed_columns(spec)} FROM {read_files(glob)}"
        if spec.dedupe_by:
            body = _deduplicated_view(spec, glob) if compacted else f"{body} {keep_first(spec)}"
        return f"CREATE OR REPLACE VIEW {name} AS {body}"
    select = ", ".join(f"CAST(NULL AS {sql_type(f.type)}) AS {quote_identifier(f.name)}" for f in spec.schema)
    return f"CREATE OR REPLACE VIEW {name} AS SELECT {select} WHERE false"
