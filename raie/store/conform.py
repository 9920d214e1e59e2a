"""Check rows against a table spec and cast them to its exact schema."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from raie.store.errors import StoreError
from raie.store.tables import TableSpec

_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)
"""What ``ChunkedArray.cast`` raises for impossible or lossy casts."""


def _check_names(spec: TableSpec, rows: pa.Table) -> None:
    expected = spec.schema.names
    given = rows.column_names
    for name in given:
        if given.count(name) > 1:
            raise StoreError(f"table '{spec.name}': column '{name}' appears more than once")
    for name in expected:
        if name not in given:
            raise StoreError(
                f"table '{spec.name}': column '{name}' is missing (expected columns: {', '.join(expected)})"
            )
    for name in given:
        if name not in expected:
            raise StoreError(
                f"table '{spec.name}': column '{name}' is not part of the table "
                f"(expected columns: {', '.join(expected)})"
            )


def _cast_column(spec: TableSpec, field: pa.Field, column: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        cast = column.cast(field.type, safe=True)
    except _CAST_ERRORS as exc:
        raise StoreError(
            f"table '{spec.name}', column '{field.name}': cannot store {column.type} as {field.type} ({exc})"
        ) from exc
    if not field.nullable and cast.null_count:
        raise StoreError(
            f"table '{spec.name}', column '{field.name}': {cast.null_count} null value(s) "
            "in a column that must always be set"
        )
    allowed = spec.allowed_values.get(field.name)
    if allowed is not None:
        ok = pc.is_in(cast, value_set=pa.array(sorted(allowed), type=field.type))
        bad = pc.filter(cast, pc.and_(pc.invert(ok), pc.is_valid(cast)))  # a null is "not recorded", allowed
        if len(bad):
            raise StoreError(
                f"table '{spec.name}', column '{field.name}': value {bad[0].as_py()!r} is not one of {sorted(allowed)}"
            )
    return cast


def conform(spec: TableSpec, rows: pa.Table) -> pa.Table:
    """``rows`` with the spec's columns, in its order and with its exact types.

    Columns are matched by name; a missing or extra column, a type that cannot
    be cast without loss, a null in a required column or a value outside a
    closed vocabulary raises :class:`StoreError` naming the column.
    """
    _check_names(spec, rows)
    columns = [_cast_column(spec, field, rows.column(field.name)) for field in spec.schema]
    return pa.Table.from_arrays(columns, schema=spec.schema)
