"""Table specs: the name, typed columns and partitioning of every store table.

Features add tables by calling :func:`register_table` at import time of a
module that ``raie.store`` imports, so that every process that opens a store
(the stream, the Ray workers, the CLI) sees the same set of views.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from raie.store.errors import StoreError

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
"""Table and column names become SQL identifiers and directory names, so they
stay lower-case ASCII: no quoting surprises in SQL, no case clashes on disk."""


@dataclass(frozen=True)
class TableSpec:
    """What one store table holds and how its files are partitioned.

    ``partition_by`` names the columns whose values pick a partition directory.
    A write replaces whole partitions, so these columns are the idempotency key
    of a sink: re-running the same key replaces its rows, never duplicates them.
    An empty ``partition_by`` means every write replaces the whole table.

    ``allowed_values`` restricts string columns to a closed vocabulary
    (for example ``split`` in {"S", "T"}); writes with other values are refused.
    """

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    description: str
    allowed_values: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)
    dedupe_by: tuple[str, ...] = ()
    """For append-only sinks whose writes may repeat rows (an at-least-once stream):
    the view keeps one row per value of these columns, the first in partition order."""

    def __post_init__(self) -> None:
        if not IDENTIFIER.match(self.name):
            raise StoreError(f"table name '{self.name}' must match {IDENTIFIER.pattern}")
        names = self.schema.names
        for column in names:
            if not IDENTIFIER.match(column):
                raise StoreError(f"table '{self.name}': column name '{column}' must match {IDENTIFIER.pattern}")
        if len(set(names)) != len(names):
            raise StoreError(f"table '{self.name}': duplicate column names in {names}")
        for column in (*self.partition_by, *self.allowed_values, *self.dedupe_by):
            if column not in names:
                raise StoreError(f"table '{self.name}': '{column}' is not one of its columns")


_REGISTRY: dict[str, TableSpec] = {}


def register_table(spec: TableSpec) -> TableSpec:
    """Add ``spec`` to the registry; registering an equal spec again is a no-op."""
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing != spec:
        raise StoreError(f"table '{spec.name}' is already registered with a different spec")
    _REGISTRY[spec.name] = spec
    return spec


def table_spec(name: str) -> TableSpec:
    """The registered spec called ``name``."""
    spec = _REGISTRY.get(name)
    if spec is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise StoreError(f"unknown table '{name}' (registered tables: {known})")
    return spec


def table_specs() -> list[TableSpec]:
    """Every registered spec, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


EXPERIMENT_RESULTS = register_table(
    TableSpec(
        name="experiment_results",
        schema=pa.schema(
            [
                pa.field("run_id", pa.string(), nullable=False),
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("backbone", pa.string(), nullable=False),
                pa.field("method", pa.string(), nullable=False),
                pa.field("seed", pa.int32(), nullable=False),
                pa.field("split", pa.string(), nullable=False),
                pa.field("metric", pa.string(), nullable=False),
                pa.field("k", pa.int32(), nullable=False),
                pa.field("average", pa.string(), nullable=False),
                pa.field("value", pa.float64(), nullable=False),
                pa.field("n_windows", pa.int64(), nullable=False),
                pa.field("created_at", pa.timestamp("ms", tz="UTC"), nullable=False),
            ]
        ),
        partition_by=("run_id", "method", "seed"),
        description=(
            "One metric value per (run, method, seed, split, metric, K, average). "
            "split: S (Set-up) or T (Test); metric: recall or ndcg; "
            "average: 'window' = mean over windows, 'user' = mean over users."
        ),
        allowed_values={
            "split": frozenset({"S", "T"}),
            "metric": frozenset({"recall", "ndcg"}),
            "average": frozenset({"window", "user"}),
        },
    )
)
