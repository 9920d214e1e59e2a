"""Store tables of prequential evaluation: every window a slice saw, and per-slice metrics.

Both are partitioned by (run, method, seed, slice), so re-closing a slice
replaces its rows. ``windows`` keeps one row per (window, role): what the
editor did with each training window, and where each evaluation window was
routed, which adapter scored it and its target's rank. ``metrics`` is the
per-slice summary of those ranks under the one metrics module.
"""

from __future__ import annotations

import pyarrow as pa

from raie.store.region_tables import SLICE_KEY, key_fields
from raie.store.tables import TableSpec, register_table

WINDOW_ROLES = frozenset({"train", "eval"})
"""train: a window the slice edited regions with (and trained on); eval: a window
scored before the slice changed anything (prequential)."""

WINDOWS = register_table(
    TableSpec(
        name="windows",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("role", pa.string(), nullable=False),
                pa.field("user_id", pa.string(), nullable=False),
                pa.field("position", pa.int32(), nullable=False),
                pa.field("ts_ms", pa.int64(), nullable=False),
                pa.field("region_id", pa.int32(), nullable=True),
                pa.field("op", pa.string(), nullable=True),
                pa.field("p1", pa.float64(), nullable=True),
                pa.field("p2", pa.float64(), nullable=True),
                pa.field("adapter", pa.string(), nullable=True),
                pa.field("rank", pa.int64(), nullable=True),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "One row per window and role. train: region_id/op = what the editor did with it "
            "(op update/expand/add, region_id -1 = the Add buffer; op NULL in the Set-up slice), "
            "p1/p2 = its confidences then. eval: scored before the slice's edits and training; "
            "region_id = the region it routed to (-1 = below tau_infer), adapter = what scored it "
            "(NULL for methods without adapters), rank = the target's 1-based full-ranking rank. "
            "position = the target's index in the user's sequence within the slice."
        ),
        allowed_values={"role": WINDOW_ROLES, "op": frozenset({"update", "expand", "add"})},
    )
)

METRICS = register_table(
    TableSpec(
        name="metrics",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("metric", pa.string(), nullable=False),
                pa.field("k", pa.int32(), nullable=False),
                pa.field("average", pa.string(), nullable=False),
                pa.field("value", pa.float64(), nullable=False),
                pa.field("n", pa.int64(), nullable=False),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "Prequential metrics: a slice's evaluation windows scored with what each method "
            "served when the slice began. metric recall|ndcg at k; average 'window' (mean over "
            "windows) or 'user' (mean over users); n = windows scored."
        ),
        allowed_values={
            "metric": frozenset({"recall", "ndcg"}),
            "average": frozenset({"window", "user"}),
        },
    )
)

METHOD_COSTS = register_table(
    TableSpec(
        name="method_costs",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("trained_parameters", pa.int64(), nullable=False),
                pa.field("train_jobs", pa.int32(), nullable=False),
                pa.field("train_seconds", pa.float64(), nullable=False),
                pa.field("scored_windows", pa.int64(), nullable=False),
                pa.field("scoring_seconds", pa.float64(), nullable=False),
                pa.field("scoring_ms_per_window", pa.float64(), nullable=True),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "What a method cost in one slice: the parameters its adapter jobs trained (summed over "
            "jobs; a method that reads another's adapter, such as raie-wo-kr reading RAIE's global "
            "one, counts it too), those jobs' wall seconds, and the wall time of scoring the "
            "slice's windows (model selection, ranking and, for hybrid, retrieval). Offline: slice "
            "1 is the update slice F, scored on T; on the stream, slice k's prequential scoring."
        ),
    )
)
