"""Render Arrow tables as aligned text, CSV or JSON for the CLI and reports."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.types as pat

FORMATS = ("table", "csv", "json")
"""The output formats :func:`format_rows` accepts."""

FLOAT_DECIMALS = 4
"""Metrics such as Recall@10 sit around 0.01-0.2; four decimals is how the
paper reports them and resolves the differences between methods."""

SMALL_FLOAT = 1e-3
"""Below this magnitude four decimals would print 0.0000 or one digit, so such
values keep FLOAT_DECIMALS significant digits instead."""

COLUMN_GAP = "  "
"""Two spaces between text columns: readable, and copy-pastes as whitespace."""

NULL_TEXT = "NULL"
"""How a missing value reads in a text table, as in the DuckDB shell."""


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and abs(value) < SMALL_FLOAT:
        return f"{value:.{FLOAT_DECIMALS}g}"
    return f"{value:.{FLOAT_DECIMALS}f}"


def _jsonable(value: object) -> object:
    """``value`` as plain JSON data: ISO-8601 times, no NaN, lists and dicts recursed."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _cell_text(value: object, *, null: str, round_floats: bool) -> str:
    if value is None:
        return null
    if isinstance(value, float):
        return _format_float(value) if round_floats else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(_jsonable(value))
    converted = _jsonable(value)
    return str(converted)


def _is_numeric(dtype: pa.DataType) -> bool:
    return bool(pat.is_integer(dtype) or pat.is_floating(dtype) or pat.is_decimal(dtype))


def _looks_numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def format_text_table(headers: list[str], rows: list[list[str]], *, numeric: Sequence[bool] | None = None) -> str:
    """Aligned plain-text columns: a header, a dashed separator, then the rows.

    The text has no trailing newline, so that ``print`` shows it as is.

    Numeric columns are right-aligned and the others left-aligned. ``numeric``
    says which columns are numeric; without it a column is numeric when every
    non-empty cell parses as a number.
    """
    if not headers:
        return ""
    for index, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(f"row {index} has {len(row)} cells, expected {len(headers)}")
    if numeric is None:
        numeric = [
            any(row[col] for row in rows) and all(_looks_numeric(row[col]) for row in rows if row[col])
            for col in range(len(headers))
        ]
    widths = [max([len(headers[col]), *(len(row[col]) for row in rows)]) for col in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ]
        return COLUMN_GAP.join(padded).rstrip()

    separator = COLUMN_GAP.join("-" * width for width in widths)
    return "\n".join([line(headers), separator, *(line(row) for row in rows)])


def format_rows(table: pa.Table, fmt: str) -> str:
    """``table`` rendered as ``"table"`` (aligned text), ``"csv"`` or ``"json"``.

    Text tables round floats to four decimals; CSV keeps full precision; JSON
    is an array of objects with ISO-8601 timestamps and NaN as null. The text
    has no trailing newline, so that ``print`` shows it as is.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        records = table.to_pylist()
        return json.dumps(_jsonable(records), indent=2, allow_nan=False)
    headers = table.column_names
    # Row tuples from columns, not dicts: SQL results may repeat a column name.
    values = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        for row in values:
            writer.writerow([_cell_text(cell, null="", round_floats=False) for cell in row])
        return buffer.getvalue().removesuffix("\n")
    rows = [[_cell_text(cell, null=NULL_TEXT, round_floats=True) for cell in row] for row in values]
    numeric = [_is_numeric(field.type) for field in table.schema]
    return format_text_table(headers, rows, numeric=numeric)
