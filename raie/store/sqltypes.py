"""Map Arrow types to DuckDB SQL types, for typed views over Parquet files."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.types as pat

from raie.store.errors import StoreError

_SIMPLE: tuple[tuple[pa.DataType, str], ...] = (
    (pa.bool_(), "BOOLEAN"),
    (pa.int8(), "TINYINT"),
    (pa.int16(), "SMALLINT"),
    (pa.int32(), "INTEGER"),
    (pa.int64(), "BIGINT"),
    (pa.uint8(), "UTINYINT"),
    (pa.uint16(), "USMALLINT"),
    (pa.uint32(), "UINTEGER"),
    (pa.uint64(), "UBIGINT"),
    (pa.float32(), "FLOAT"),
    (pa.float64(), "DOUBLE"),
    (pa.string(), "VARCHAR"),
    (pa.large_string(), "VARCHAR"),
    (pa.binary(), "BLOB"),
    (pa.large_binary(), "BLOB"),
    (pa.date32(), "DATE"),
)

_NAIVE_TIMESTAMPS = {
    "s": "TIMESTAMP_S",
    "ms": "TIMESTAMP_MS",
    "us": "TIMESTAMP",
    "ns": "TIMESTAMP_NS",
}
"""DuckDB keeps the unit of a time-zone-naive timestamp; a zoned one is always
TIMESTAMPTZ (microseconds), so readers cast back to the spec's unit."""


def sql_type(dtype: pa.DataType) -> str:
    """The DuckDB type that holds values of Arrow type ``dtype``."""
    for arrow_type, sql in _SIMPLE:
        if dtype == arrow_type:
            return sql
    if pat.is_timestamp(dtype):
        return "TIMESTAMPTZ" if dtype.tz is not None else _NAIVE_TIMESTAMPS[dtype.unit]
    if pat.is_decimal(dtype):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    if pat.is_list(dtype) or pat.is_large_list(dtype):
        return f"{sql_type(dtype.value_type)}[]"
    raise StoreError(f"Arrow type {dtype} has no DuckDB mapping in raie.store.sqltypes; add one")


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
