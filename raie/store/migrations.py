"""On-disk layout versions and the steps that upgrade one version to the next.

A migration ``MIGRATIONS[v]`` takes the store root at layout version ``v``
and leaves it at ``v + 1``. Opening an older store runs the steps in order and
records each finished step in ``store.json``, so an interrupted upgrade
resumes where it stopped. Views are derived data and are rebuilt after
migrating, so migrations only touch Parquet files and directories.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from raie.store.errors import StoreError
from raie.store.files import atomic_write_parquet
from raie.store.manifest import write_manifest
from raie.store.partitions import PART_FILE, encode_value, partition_glob, split_by_partition

SCHEMA_VERSION = 2
"""The layout this code reads and writes; bump it, and add a migration from
the previous value, whenever a change would break reading an existing store."""

V1_SLICE_TABLES = ("regions", "edits", "train_jobs", "adapters", "train_job_events")
"""Layout 1 partitioned these by (run_id, method, seed) only; layout 2 adds ``slice``.
Named here, not taken from the current specs, because a migration describes
the layout as it was, whatever the specs become later."""

V1_RUN_KEY_DEPTH = 3


def split_run_partitions_by_slice(root: Path) -> None:
    """1 -> 2: move each (run, method, seed) file's rows into one ``slice=<k>`` partition per slice.

    The new files are written before the old one is removed, so an interrupted
    step, run again, splits the same old file again and overwrites them.
    """
    for table in V1_SLICE_TABLES:
        table_dir = root / table
        if not table_dir.is_dir():
            continue
        for old in sorted(table_dir.glob(partition_glob(V1_RUN_KEY_DEPTH))):
            rows = pq.ParquetFile(old).read()
            if "slice" not in rows.column_names:
                raise StoreError(f"{old}: a layout-1 '{table}' file without a 'slice' column; restore it or delete it")
            for (value,), part in split_by_partition(rows, ["slice"]):
                atomic_write_parquet(old.parent / f"slice={encode_value(value)}" / PART_FILE, part)
            old.unlink()


MIGRATIONS: dict[int, Callable[[Path], None]] = {1: split_run_partitions_by_slice}
"""from-version -> function upgrading the on-disk layout to from-version + 1."""


def migrate(root: Path, found: int, target: int = SCHEMA_VERSION) -> None:
    """Upgrade the store at ``root`` from layout ``found`` to ``target``, step by step."""
    for version in range(found, target):
        step = MIGRATIONS.get(version)
        if step is None:
            raise StoreError(
                f"store {root} has layout version {version} and raie has no migration "
                f"from it to {version + 1}; recreate the store or use an older raie"
            )
        step(root)
        write_manifest(root, version + 1)
