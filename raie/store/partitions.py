"""Partition directories: hive-style ``col=value`` names that are always path-safe.

Values are percent-encoded (``urllib.parse.quote`` with no safe characters),
which is reversible and turns ``/``, ``=``, ``%``, ``\\`` and spaces into
``%XX``. ``.`` and ``..`` cannot escape the table directory because every
component starts with ``col=``. Views read with ``hive_partitioning=false``,
so the encoding never leaks into query results: every column, partition
columns included, is stored in the Parquet file itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa

from raie.store.errors import StoreError

MAX_COMPONENT_BYTES = 255
"""Most file systems (ext4, APFS, NTFS) refuse a path component longer than this."""

PART_FILE = "part.parquet"
"""Each partition directory holds exactly one data file with this name."""

COMPACTED_FILE = "compacted.parquet"
"""The one data file of a compacted group of partitions. The name is the marker:
views read these files without deduplicating them again, and compaction folds
every other file of the group into it."""

COMPACTED_DIR = "_compacted"
"""Stands in for the partition directories below a compacted group, so that its
file sits at the depth the views' glob reads. No partition directory can have
this name: theirs are ``col=value`` and column names start with a letter."""


def encode_value(value: object) -> str:
    """The path-safe text of one partition value."""
    if value is None:
        raise StoreError("a partition column value is null; partition columns must be set")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.date | dt.datetime | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    return quote(text, safe="")


def decode_value(text: str) -> str:
    """Invert :func:`encode_value` (the result is the value's text, not its type)."""
    return unquote(text)


def partition_dir(table_dir: Path, columns: Sequence[str], values: Sequence[object]) -> Path:
    """The directory of the partition where ``columns`` take ``values``."""
    directory = table_dir
    for column, value in zip(columns, values, strict=True):
        component = f"{column}={encode_value(value)}"
        if len(component.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise StoreError(
                f"partition value of '{column}' is too long for a directory name "
                f"({len(component.encode('utf-8'))} bytes encoded, at most {MAX_COMPONENT_BYTES})"
            )
        directory = directory / component
    return directory


def compacted_path(group_dir: Path, levels_below: int) -> Path:
    """The compacted file of the group at ``group_dir``, ``levels_below`` partition levels above the files."""
    return group_dir.joinpath(*[COMPACTED_DIR] * levels_below, COMPACTED_FILE)


def partition_glob(depth: int) -> str:
    """The glob, relative to a table directory, matching its data files."""
    return "/".join(["*"] * depth + ["*.parquet"])


def split_by_partition(table: pa.Table, columns: Sequence[str]) -> Iterator[tuple[tuple[object, ...], pa.Table]]:
    """Yield ``(values, rows)`` per distinct partition, keeping row order within each."""
    if not columns:
        yield (), table
        return
    keys = zip(*(table.column(name).to_pylist() for name in columns), strict=True)
    groups: dict[tuple[object, ...], list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    for key, indices in groups.items():
        yield key, table.take(pa.array(indices, type=pa.int64()))
