"""MovieLens loader for the three public layouts, detected from the folder's files.

* ``ratings.csv`` + ``movies.csv``: ml-latest, ml-latest-small, ml-25m (header, quoted titles);
* ``ratings.dat`` + ``movies.dat``: ml-1m, ml-10m (``::`` separated, no header, latin-1 titles);
* ``u.data`` + ``u.item`` (+ ``u.genre``): ml-100k (tab / pipe separated, genre flags).

The fast path is pyarrow.csv with explicit column types and never builds per-row
Python objects (ml-25m has 25M ratings). Only when it fails does a line scanner
re-read the file to name the first bad line and field.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from raie.data.dataset import Dataset, register_loader
from raie.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from raie.errors import DataError

ML100K_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
"""Order of u.item's 19 genre flags (ml-100k README); used when u.genre is absent."""

NO_GENRE_MARKERS: frozenset[str] = frozenset({"", "(no genres listed)", "unknown"})
"""Values MovieLens writes instead of an empty genre list; they become no category."""

DAT_DELIMITER = "\x1f"
"""ASCII unit separator stands in for ``::`` because pyarrow needs a one-byte
delimiter and MovieLens text never contains control bytes."""

LAYOUT_HINT = (
    "expected ratings.csv + movies.csv (ml-latest, ml-25m), ratings.dat + movies.dat "
    "(ml-1m, ml-10m) or u.data + u.item (ml-100k)"
)
"""Shown whenever a folder does not match a layout, so the user knows what to put there."""

_INT = re.compile(r"-?[0-9]+")  # ASCII digits only, as pyarrow parses them
_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(), "float": pa.float32(), "text": pa.string(), "flag": pa.int8(),
}  # fmt: skip

FieldKind = Literal["int", "float", "text", "flag"]


@dataclass(frozen=True)
class _Field:
    name: str
    kind: FieldKind
    required: bool = True  # optional fields are neither converted nor checked


@dataclass(frozen=True)
class _Format:
    """How one MovieLens file is laid out; drives both the fast path and the scanner."""

    delimiter: str
    fields: tuple[_Field, ...]
    header: bool = False
    quoted: bool = False


def _ratings(delimiter: str, names: str, header: bool = False) -> _Format:
    """user, item, rating, timestamp columns under the file's own names."""
    kinds: tuple[FieldKind, ...] = ("int", "int", "float", "int")
    fields = tuple(_Field(n, k) for n, k in zip(names.split(), kinds, strict=True))
    return _Format(delimiter, fields, header=header, quoted=header)


def _movies(delimiter: str, names: str, header: bool = False) -> _Format:
    """item, title, genres columns under the file's own names."""
    kinds: tuple[FieldKind, ...] = ("int", "text", "text")
    fields = tuple(_Field(n, k) for n, k in zip(names.split(), kinds, strict=True))
    return _Format(delimiter, fields, header=header, quoted=header)


_RATINGS_CSV = _ratings(",", "userId movieId rating timestamp", header=True)
_MOVIES_CSV = _movies(",", "movieId title genres", header=True)
_RATINGS_DAT = _ratings("::", "UserID MovieID Rating Timestamp")
_MOVIES_DAT = _movies("::", "MovieID Title Genres")
_U_DATA = _ratings("\t", "user_id item_id rating timestamp")


def _u_item(genres: tuple[str, ...]) -> _Format:
    unused = ("release_date", "video_release_date", "imdb_url")
    optional = tuple(_Field(n, "text", required=False) for n in unused)
    flags = tuple(_Field(g, "flag") for g in genres)
    return _Format("|", (_Field("movie_id", "int"), _Field("title", "text"), *optional, *flags))


@register_loader("movielens")
def load_movielens(data_dir: Path) -> Dataset:
    """Load any MovieLens layout from ``data_dir``, raising DataError on bad input."""
    folder = Path(data_dir)
    if (folder / "ratings.csv").exists():
        ratings = _read(folder / "ratings.csv", _RATINGS_CSV)
        movies = _read(_require(folder / "movies.csv"), _MOVIES_CSV)
        categories = _split_genres(movies["genres"])
    elif (folder / "ratings.dat").exists():
        ratings = _read(folder / "ratings.dat", _RATINGS_DAT)
        movies = _read(_require(folder / "movies.dat"), _MOVIES_DAT, latin1_ok=True)
        categories = _split_genres(movies["Genres"])
    elif (folder / "u.data").exists():
        ratings = _read(folder / "u.data", _U_DATA)
        genres = _read_u_genre(folder / "u.genre")
        movies = _read(_require(folder / "u.item"), _u_item(genres), latin1_ok=True)
        categories = _flag_genres(movies, genres)
    else:
        raise DataError(folder, "no MovieLens ratings file found", fix=LAYOUT_HINT)
    user, item, rating, ts = ratings.column_names
    interactions = pa.Table.from_arrays(
        [
            pc.cast(ratings[user], pa.string()),
            pc.cast(ratings[item], pa.string()),
            ratings[rating],
            pc.cast(ratings[ts], pa.timestamp("s", tz="UTC")),
        ],
        schema=INTERACTIONS_SCHEMA,
    )
    movie_id, title = movies.column_names[:2]
    items = pa.Table.from_arrays(
        [pc.cast(movies[movie_id], pa.string()), movies[title], categories], schema=ITEMS_SCHEMA
    )
    return Dataset(name="movielens", interactions=interactions, items=items, source=folder)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(path, "file not found", fix=LAYOUT_HINT)
    return path


def _encoding_of(raw: bytes) -> str:
    """Old MovieLens files are latin-1, newer ones UTF-8.

    Latin-1 accented bytes are almost never valid UTF-8, so trying UTF-8 first
    keeps UTF-8 files intact and still decodes latin-1 ones correctly.
    """
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _read(path: Path, fmt: _Format, *, latin1_ok: bool = False) -> pa.Table:
    """Fast path: one pyarrow.csv read with explicit types; on any failure, scan for the line."""
    encoding, delimiter = "utf-8", fmt.delimiter
    source: Path | pa.BufferReader = path
    if fmt.header:
        _check_header(path, fmt)
    if latin1_ok or fmt.delimiter == "::":
        raw = path.read_bytes()
        encoding = _encoding_of(raw) if latin1_ok else "utf-8"
        if encoding != "utf-8":
            raw = raw.decode(encoding).encode("utf-8")
        if fmt.delimiter == "::":
            raw, delimiter = _replace_dat_delimiter(path, raw), DAT_DELIMITER
        source = pa.BufferReader(raw)
    wanted = [f for f in fmt.fields if f.required]
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=[f.name for f in fmt.fields], skip_rows=int(fmt.header)),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"' if fmt.quoted else False),
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: _TYPES[f.kind] for f in wanted},
                include_columns=[f.name for f in wanted],
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as err:
        raise _locate_error(path, fmt, encoding, str(err)) from err
    for field in wanted:
        column = table[field.name]
        bad = column.null_count > 0
        if field.kind == "float":
            bad = bad or not pc.all(pc.is_finite(column)).as_py()
        if field.kind == "flag":
            bad = bad or not pc.all(pc.is_in(column, pa.array([0, 1], pa.int8()))).as_py()
        if bad:
            raise _locate_error(path, fmt, encoding, f"bad value in column {field.name!r}")
    return table


def _check_header(path: Path, fmt: _Format) -> None:
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        got = handle.readline().rstrip("\r\n")
    expected = [f.name for f in fmt.fields]
    if next(csv.reader([got]), []) != expected:  # parsed, so a quoted header is fine too
        raise DataError(path, f"header is {got!r}, expected {','.join(expected)!r}", line=1)


def _replace_dat_delimiter(path: Path, raw: bytes) -> bytes:
    stray = raw.find(DAT_DELIMITER.encode())
    if stray >= 0:
        line = raw.count(b"\n", 0, stray) + 1
        raise DataError(path, "contains the control byte 0x1f", line=line)
    return raw.replace(b"::", DAT_DELIMITER.encode())


def _locate_error(path: Path, fmt: _Format, encoding: str, fallback: str) -> DataError:
    """Error path: re-read ``path`` line by line and describe its first bad line and field.

    One scanner serves every layout; it mirrors the fast path's rules (empty
    lines skipped, quotes only in the CSV layout) so that it blames the same line.
    """
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            text = raw.decode(encoding, errors="surrogateescape").rstrip("\r\n")
            if (lineno == 1 and fmt.header) or not text:
                continue
            quoted = fmt.quoted and '"' in text  # csv.reader only where needed: it is slow
            values = next(csv.reader([text])) if quoted else text.split(fmt.delimiter)
            problem = _check_line(values, fmt)
            if problem is not None:
                return DataError(path, problem[1], line=lineno, field=problem[0])
    return DataError(path, f"could not be read: {fallback}")


def _check_line(values: list[str], fmt: _Format) -> tuple[str | None, str] | None:
    """Return (field, problem) for the first bad value of one line, or None if it is fine."""
    if len(values) != len(fmt.fields):
        expected = f"expected {len(fmt.fields)} fields separated by {fmt.delimiter!r}"
        return None, f"{expected}, found {len(values)}"
    for field, value in zip(fmt.fields, values, strict=True):
        if not field.required:
            continue
        if not value:
            return field.name, "value is missing"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return field.name, f"{value!r} is not valid UTF-8"
        if field.kind == "int" and not _INT.fullmatch(value):
            return field.name, f"{value!r} is not an integer"
        if field.kind == "flag" and value not in ("0", "1"):
            return field.name, f"{value!r} is not 0 or 1"
        if field.kind == "float" and not _is_finite_number(value):
            return field.name, f"{value!r} is not a number"
    return None


def _is_finite_number(value: str) -> bool:
    if value != value.strip() or "_" in value:
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _read_u_genre(path: Path) -> tuple[str, ...]:
    """Genre names from ml-100k's u.genre (``name|index``), else the standard 19."""
    if not path.is_file():
        return ML100K_GENRES
    names: dict[int, str] = {}
    raw = path.read_bytes()
    for lineno, line in enumerate(raw.decode(_encoding_of(raw)).splitlines(), start=1):
        if not line.strip():
            continue
        name, _, index = line.rpartition("|")
        if not name or not _INT.fullmatch(index.strip()):
            raise DataError(path, f"{line!r} is not 'name|index'", line=lineno)
        names[int(index)] = name
    if sorted(names) != list(range(len(names))):
        raise DataError(path, f"genre indices {sorted(names)} are not 0..{len(names) - 1}")
    return tuple(names[i] for i in range(len(names)))


def _list_array(values: pa.Array, counts: np.ndarray) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values).cast(pa.list_(pa.string()))


def _split_genres(genres: pa.ChunkedArray) -> pa.Array:
    """``A|B`` -> [A, B]; markers such as "(no genres listed)" are dropped."""
    lists = pc.split_pattern(genres.combine_chunks(), "|")
    flat, parents = pc.list_flatten(lists), pc.list_parent_indices(lists)
    keep = pc.invert(pc.is_in(flat, value_set=pa.array(sorted(NO_GENRE_MARKERS))))
    counts = np.bincount(parents.filter(keep).to_numpy(), minlength=len(lists))
    return _list_array(flat.filter(keep), counts)


def _flag_genres(movies: pa.Table, genres: tuple[str, ...]) -> pa.Array:
    """ml-100k's 0/1 genre columns -> list of genre names, vectorised."""
    named = [g for g in genres if g not in NO_GENRE_MARKERS]
    mask = np.column_stack([movies[g].to_numpy() == 1 for g in named]) if named else None
    if mask is None:
        return pa.array([[]] * movies.num_rows, pa.list_(pa.string()))
    values = np.tile(np.array(named, dtype=object), movies.num_rows)[mask.ravel()]
    return _list_array(pa.array(values, pa.string()), mask.sum(axis=1))
