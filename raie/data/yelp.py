"""Yelp Open Dataset loader (JSON lines), read with DuckDB.

The review file is about 5 GB, so it never becomes Python objects: DuckDB's
``read_json`` reads only the needed columns and hands back Arrow. When that
fails, DuckDB re-reads the file as raw lines to name the first bad line and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from raie.data.dataset import Dataset, register_loader
from raie.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from raie.errors import DataError

REVIEW_FILE = "yelp_academic_dataset_review.json"
BUSINESS_FILE = "yelp_academic_dataset_business.json"

DOWNLOAD_HINT = (
    "download the Yelp Open Dataset from https://www.yelp.com/dataset and extract its JSON "
    "files into the data directory; the project never ships Yelp data because its terms "
    "forbid redistribution"
)
"""Shown when a Yelp file is missing: users must fetch the data themselves."""

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest JSON line accepted; real Yelp lines are under 10 kB, so this only
stops a file without newlines from being read as one giant object."""

RAW_LINE_DELIMITER = "\x01"
"""Used to read whole lines as one CSV column: JSON must escape control
characters, so this byte never occurs in a valid line."""

_CSV_LINE = re.compile(r"on Line: (\d+)")


@dataclass(frozen=True)
class _Column:
    """One JSON field read by ``read_json``, typed as DuckDB will convert it."""

    name: str
    sql_type: str
    required: bool


_REVIEW_COLUMNS = (
    _Column("user_id", "VARCHAR", True),
    _Column("business_id", "VARCHAR", True),
    _Column("stars", "DOUBLE", True),
    _Column("date", "TIMESTAMP", True),
)
_BUSINESS_COLUMNS = (
    _Column("business_id", "VARCHAR", True),
    _Column("name", "VARCHAR", False),
    _Column("categories", "VARCHAR", False),
)

_REVIEW_SELECT = "user_id, business_id AS item_id, CAST(stars AS FLOAT) AS rating, CAST(date AS TIMESTAMP_S) AS ts"
# Yelp writes "Restaurants, Pizza"; trimming and dropping empty parts also
# copes with stray commas. A null `categories` becomes the empty list.
_BUSINESS_SELECT = (
    "business_id AS item_id, name AS title, "
    "coalesce([trim(c) FOR c IN string_split(categories, ',') IF trim(c) <> ''], "
    "[]::VARCHAR[]) AS categories"
)

_KIND_WORDS = {"DOUBLE": "a number", "TIMESTAMP": "a date 'YYYY-MM-DD HH:MM:SS'"}


@register_loader("yelp")
def load_yelp(data_dir: Path) -> Dataset:
    """Load the Yelp Open Dataset's reviews and businesses from ``data_dir``."""
    folder = Path(data_dir)
    reviews_path, business_path = _require(folder / REVIEW_FILE), _require(folder / BUSINESS_FILE)
    with duckdb.connect() as con:
        reviews = _read(con, reviews_path, _REVIEW_COLUMNS, _REVIEW_SELECT)
        businesses = _read(con, business_path, _BUSINESS_COLUMNS, _BUSINESS_SELECT)
    interactions = pa.Table.from_arrays(
        [
            reviews["user_id"],
            reviews["item_id"],
            reviews["rating"],
            reviews["ts"].cast(pa.timestamp("s", tz="UTC")),  # Yelp dates are UTC wall time
        ],
        schema=INTERACTIONS_SCHEMA,
    )
    items = pa.Table.from_arrays(
        [
            businesses["item_id"],
            businesses["title"],
            businesses["categories"].cast(pa.list_(pa.string())),
        ],
        schema=ITEMS_SCHEMA,
    )
    return Dataset(name="yelp", interactions=interactions, items=items, source=folder)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(path, "file not found", fix=DOWNLOAD_HINT)
    return path


def _read(con: duckdb.DuckDBPyConnection, path: Path, columns: tuple[_Column, ...], select: str) -> pa.Table:
    """Fast path: one ``read_json`` over the needed columns; on failure, find the bad line."""
    spec = ", ".join(f"'{c.name}': '{c.sql_type}'" for c in columns)
    source = f"read_json(?, format='newline_delimited', columns={{{spec}}}, maximum_object_size={MAX_LINE_BYTES})"
    try:
        table = con.sql(f"SELECT {select} FROM {source}", params=[str(path)]).to_arrow_table()
    except duckdb.IOException as err:
        raise DataError(path, f"could not be read: {err}") from err
    except (duckdb.InvalidInputException, duckdb.ConversionException) as err:
        raise _locate_error(con, path, columns, str(err)) from err
    required = [c for c in columns if c.required]
    # Output columns keep the order of `columns`, so required inputs map by position.
    if any(table.column(columns.index(c)).null_count for c in required):
        raise _locate_error(con, path, columns, "a required field is missing or null")
    return table


def _locate_error(con: duckdb.DuckDBPyConnection, path: Path, columns: tuple[_Column, ...], fallback: str) -> DataError:
    """Error path: scan raw lines in DuckDB and describe the first bad one.

    ``json_transform_strict`` applies the same conversions as ``read_json``,
    so the line blamed here is the line the fast path tripped over.
    """
    cases = [
        "WHEN NOT json_valid(line) THEN '<json>'",
        "WHEN json_type(line) <> 'OBJECT' THEN '<obj>'",
    ]
    for c in columns:
        shape = f'{{"{c.name}": "{c.sql_type}"}}'
        value = f"try(json_transform_strict(line, '{shape}'))['{c.name}']"
        present = f"json_extract_string(line, '$.{c.name}') IS NOT NULL"
        cond = f"{value} IS NULL" if c.required else f"{present} AND {value} IS NULL"
        cases.append(f"WHEN {cond} THEN '{c.name}'")
    lines = (
        f"SELECT row_number() OVER () AS lineno, line FROM read_csv(?, columns={{'line': "
        f"'VARCHAR'}}, delim='{RAW_LINE_DELIMITER}', quote='', escape='', header=false, "
        f"auto_detect=false, max_line_size={MAX_LINE_BYTES})"
    )
    query = (
        f"SELECT lineno, problem, line FROM (SELECT lineno, line, CASE {' '.join(cases)} END "
        f"AS problem FROM ({lines}) WHERE trim(coalesce(line, '')) <> '') "
        "WHERE problem IS NOT NULL ORDER BY lineno LIMIT 1"
    )
    con.execute("SET threads TO 1")  # row_number() OVER () follows file order only single-threaded
    try:
        rows = con.sql(query, params=[str(path)]).fetchall()
    except duckdb.InvalidInputException as err:  # e.g. bytes that are not UTF-8
        found = _CSV_LINE.search(str(err))
        problem = "not valid UTF-8" if "Invalid unicode" in str(err) else str(err).splitlines()[0]
        return DataError(path, problem, line=int(found.group(1)) if found else None)
    if not rows:
        return DataError(path, f"could not be read: {fallback}")
    lineno, problem, line = rows[0]
    if problem == "<json>":
        return DataError(path, "not valid JSON", line=lineno)
    if problem == "<obj>":
        return DataError(path, "not a JSON object", line=lineno)
    kind = next(c.sql_type for c in columns if c.name == problem)
    raw = con.sql("SELECT json_extract_string(?, ?)", params=[line, f"$.{problem}"]).fetchall()
    if raw[0][0] is None:
        return DataError(path, "value is missing or null", line=lineno, field=problem)
    return DataError(path, f"{raw[0][0]!r} is not {_KIND_WORDS.get(kind, kind)}", line=lineno, field=problem)
