"""Store tables for RAIE's regions: snapshots, op counts, routing, training jobs and promotions.

Tables with a ``slice`` column are partitioned by (run, method, seed, slice):
re-closing a slice (a restarted stream, a re-run experiment) replaces that
slice's rows and no other's. ``routing`` has no slice and is partitioned like
``experiment_results`` (run, method, seed).
"""

from __future__ import annotations

import pyarrow as pa

from raie.store.tables import TableSpec, register_table

RUN_KEY = ("run_id", "method", "seed")
SLICE_KEY = (*RUN_KEY, "slice")
"""Layout 2 added ``slice`` to the partition key (migration in raie/store/migrations.py)."""


def key_fields() -> list[pa.Field]:
    """The run key's columns, first in every run-partitioned table."""
    return [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),
        pa.field("seed", pa.int32(), nullable=False),
    ]


REGIONS = register_table(
    TableSpec(
        name="regions",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("stage", pa.string(), nullable=False),
                pa.field("region_id", pa.int32(), nullable=False),
                pa.field("version", pa.int32(), nullable=False),
                pa.field("count", pa.int64(), nullable=False),
                pa.field("radius_deg", pa.float64(), nullable=False),
                pa.field("centre", pa.list_(pa.float32()), nullable=False),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "Region bank snapshots: stage 'before' and 'after' the edits of a slice. "
            "radius_deg is the angular radius; centre the unit centre vector."
        ),
        allowed_values={"stage": frozenset({"before", "after"})},
    )
)

EDITS = register_table(
    TableSpec(
        name="edits",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("region_id", pa.int32(), nullable=False),
                pa.field("op", pa.string(), nullable=False),
                pa.field("count", pa.int64(), nullable=False),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "Samples per edit op and region in a slice. region_id -1 is the Add buffer; "
            "op 'create' counts the buffered samples that formed a new region."
        ),
        allowed_values={"op": frozenset({"update", "expand", "add", "create"})},
    )
)

ROUTING = register_table(
    TableSpec(
        name="routing",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("split", pa.string(), nullable=False),
                pa.field("region_id", pa.int32(), nullable=False),
                pa.field("windows", pa.int64(), nullable=False),
            ]
        ),
        partition_by=RUN_KEY,
        description="Scored windows per region adapter at inference; region_id -1 fell back to the global adapter.",
        allowed_values={"split": frozenset({"S", "T"})},
    )
)

TRAIN_JOBS = register_table(
    TableSpec(
        name="train_jobs",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("adapter", pa.string(), nullable=False),
                pa.field("region_id", pa.int32(), nullable=False),
                pa.field("new_windows", pa.int64(), nullable=False),
                pa.field("old_windows", pa.int64(), nullable=False),
                pa.field("valid_windows", pa.int64(), nullable=False),
                pa.field("epochs_run", pa.int32(), nullable=False),
                pa.field("best_epoch", pa.int32(), nullable=False),
                pa.field("valid_recall", pa.float64(), nullable=True),
                pa.field("seconds", pa.float64(), nullable=False),
                pa.field("trained_parameters", pa.int64(), nullable=True),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "One adapter training job: its data sizes (new = this slice, old = rehearsed Set-up), "
            "the epochs early stopping kept, validation Recall@10, wall time and the parameters it "
            "trained (the adapter's saved tensors; NULL in rows written before it was recorded). "
            "region_id -1 = global."
        ),
    )
)

ADAPTERS = register_table(
    TableSpec(
        name="adapters",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("adapter", pa.string(), nullable=False),
                pa.field("region_id", pa.int32(), nullable=False),
                pa.field("version", pa.int32(), nullable=False),
                pa.field("parent_adapter", pa.string(), nullable=True),
                pa.field("parent_version", pa.int32(), nullable=True),
                pa.field("path", pa.string(), nullable=False),
                pa.field("sha256", pa.string(), nullable=False),
                pa.field("new_windows", pa.int64(), nullable=False),
                pa.field("old_windows", pa.int64(), nullable=False),
                pa.field("valid_recall", pa.float64(), nullable=True),
                pa.field("created_at_ms", pa.int64(), nullable=False),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "Adapter versions published to the registry: path is relative to the store "
            "(adapters/<adapter>/<version>, safetensors + manifest.json); version = the slice that trained it; "
            "parent = the version training started from (regions start from the global adapter). region_id -1 = global."
        ),
    )
)

PROMOTION_DECISIONS = frozenset({"promoted", "rejected", "rolled_back"})
"""raie/online/slice_training.py names them (PROMOTED, REJECTED, ROLLED_BACK); the store
does not import the method core, so a unit test keeps the two in step."""

PROMOTIONS = register_table(
    TableSpec(
        name="promotions",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("adapter", pa.string(), nullable=False),
                pa.field("region_id", pa.int32(), nullable=False),
                pa.field("candidate_version", pa.int32(), nullable=False),
                pa.field("previous_version", pa.int32(), nullable=True),
                pa.field("candidate_recall", pa.float64(), nullable=True),
                pa.field("previous_recall", pa.float64(), nullable=True),
                pa.field("max_regression", pa.float64(), nullable=True),
                pa.field("decision", pa.string(), nullable=False),
                pa.field("reason", pa.string(), nullable=False),
                pa.field("at_ms", pa.int64(), nullable=False),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "Guarded promotion of each new adapter version: validation Recall@10 of the model serving it "
            "with the candidate and with the previous version (null: the Set-up model or no version), "
            "the tolerance max_regression, and the decision; 'rolled_back' rows record raie adapters rollback "
            "(candidate = the version made live, previous = the one it replaced). region_id -1 = global or baseline."
        ),
        allowed_values={"decision": PROMOTION_DECISIONS},
    )
)

TRAIN_JOB_EVENTS = register_table(
    TableSpec(
        name="train_job_events",
        schema=pa.schema(
            [
                *key_fields(),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("job_id", pa.string(), nullable=False),
                pa.field("adapter", pa.string(), nullable=False),
                pa.field("region_id", pa.int32(), nullable=False),
                pa.field("status", pa.string(), nullable=False),
                pa.field("attempt", pa.int32(), nullable=False),
                pa.field("at_ms", pa.int64(), nullable=False),
                pa.field("error", pa.string(), nullable=True),
            ]
        ),
        partition_by=SLICE_KEY,
        description=(
            "Adapter job lifecycle: queued, started, retrying (an attempt failed, another follows), "
            "finished (published), failed (gave up; the previous version stays live, error says why)."
        ),
        allowed_values={"status": frozenset({"queued", "started", "retrying", "finished", "failed"})},
    )
)
