"""The store: typed Parquet tables on disk, queried with SQL through DuckDB.

Every table is described by a :class:`TableSpec` in a registry; features add
their tables with :func:`register_table` in a module imported here, so that
every process opening a store sees the same views.
"""

from raie.store import eval_tables, manifest_tables, region_tables, stream_tables
from raie.store.errors import StoreError
from raie.store.migrations import MIGRATIONS, SCHEMA_VERSION
from raie.store.partitions import decode_value, encode_value
from raie.store.sqltypes import sql_type
from raie.store.store import Store
from raie.store.tables import (
    EXPERIMENT_RESULTS,
    TableSpec,
    register_table,
    table_spec,
    table_specs,
)

__all__ = [
    "EXPERIMENT_RESULTS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Store",
    "StoreError",
    "TableSpec",
    "decode_value",
    "encode_value",
    "eval_tables",
    "manifest_tables",
    "region_tables",
    "register_table",
    "sql_type",
    "stream_tables",
    "table_spec",
    "table_specs",
]
