"""Atomic, durable file replacement (write a temp file, fsync, then rename) and durable removal.

Sinks must be durable before stream offsets are committed (docs/ARCHITECTURE.md
section 7), and a reader must see either the old file or the new one, never
half of one. ``os.replace`` within one directory gives the atomicity; the
fsyncs give the durability.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

TEMP_SUFFIX = ".tmp"
"""Temp files end in this suffix so the ``*.parquet`` globs of views never
match a file that is still being written."""


def _fsync_directory(directory: Path) -> None:
    # On POSIX the rename itself is only durable once the directory entry is
    # flushed; Windows cannot open directories and persists renames itself.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
    try:
        with temp.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        # After a successful replace the temp name no longer exists; after a
        # failure this removes the partial file.
        temp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def atomic_write_parquet(path: Path, table: pa.Table) -> None:
    """Replace ``path`` with ``table`` as Parquet, atomically and durably."""
    _atomic_write(path, lambda handle: pq.write_table(table, handle))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, atomically and durably."""
    _atomic_write(path, lambda handle: handle.write(data))


def atomic_write_json(path: Path, payload: dict[str, object]) -> None:
    """Replace ``path`` with ``payload`` as indented JSON, atomically and durably."""
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    _atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def remove_durably(paths: Iterable[Path], *, keep: Path) -> None:
    """Delete ``paths`` and the directories they leave empty below ``keep``, then flush the removals.

    Missing paths are skipped, so a removal interrupted by a crash can simply be
    run again. Empty partition directories would otherwise pile up, one per
    file removed, and make every glob over the table slower.
    """
    touched: set[Path] = set()
    for path in paths:
        path.unlink(missing_ok=True)
        directory = path.parent
        while directory != keep and directory.is_relative_to(keep) and directory.is_dir():
            if any(directory.iterdir()):
                break
            directory.rmdir()
            directory = directory.parent
        touched.add(directory)
    for directory in sorted(touched):
        if directory.is_dir():
            _fsync_directory(directory)
