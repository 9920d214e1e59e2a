"""SQL for the typed DuckDB view that exposes one table's Parquet files."""

from __future__ import annotations

from pathlib import Path

from raie.store.partitions import partition_glob
from raie.store.sqltypes import quote_identifier, quote_literal, sql_type
from raie.store.tables import TableSpec


def data_glob(spec: TableSpec, table_dir: Path) -> str:
    """The absolute glob of the table's data files."""
    return str(table_dir / partition_glob(len(spec.partition_by)))


def has_data(spec: TableSpec, table_dir: Path) -> bool:
    """Whether the table has at least one data file yet."""
    return table_dir.is_dir() and any(table_dir.glob(partition_glob(len(spec.partition_by))))


def create_view_sql(spec: TableSpec, table_dir: Path, *, with_data: bool) -> str:
    """``CREATE OR REPLACE VIEW`` over the table's files, or a typed empty view.

    Every column is cast to its spec type, so the view's columns and order are
    the spec's whatever older files hold; ``union_by_name`` lets files written
    before a column was added still be read (the column reads as NULL).
    """
    name = quote_identifier(spec.name)
    if with_data:
        select = ", ".join(
            f"CAST({quote_identifier(f.name)} AS {sql_type(f.type)}) AS {quote_identifier(f.name)}" for f in spec.schema
        )
        source = (
            f"read_parquet({quote_literal(data_glob(spec, table_dir))}, union_by_name=true, hive_partitioning=false)"
        )
        if not spec.dedupe_by:
            return f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM {source}"
        keys = ", ".join(quote_identifier(c) for c in spec.dedupe_by)
        first = ", ".join(quote_identifier(c) for c in spec.partition_by) or keys
        return (
            f"CREATE OR REPLACE VIEW {name} AS SELECT {select} FROM {source} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {first}) = 1"
        )
    select = ", ".join(f"CAST(NULL AS {sql_type(f.type)}) AS {quote_identifier(f.name)}" for f in spec.schema)
    return f"CREATE OR REPLACE VIEW {name} AS SELECT {select} WHERE false"
