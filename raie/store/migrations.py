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

from raie.store.errors import StoreError
from raie.store.manifest import write_manifest

SCHEMA_VERSION = 1
"""The layout this code reads and writes; bump it, and add a migration from
the previous value, whenever a change would break reading an existing store."""

MIGRATIONS: dict[int, Callable[[Path], None]] = {}
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
