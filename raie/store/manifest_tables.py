"""The store table of run manifests: what produced a run's numbers.

One row per run (partitioned by ``run_id``), so a re-run replaces its
manifest as it replaces its results. The rows are written by
``raie/run_manifest.py``; this module only says what a row holds.
"""

from __future__ import annotations

import pyarrow as pa

from raie.store.tables import TableSpec, register_table

RECORDED_PACKAGES: tuple[str, ...] = ("torch", "transformers", "peft", "numpy", "pyarrow", "duckdb", "ray")
"""Distributions whose version can change a number (kernels, LoRA layers, Parquet
and SQL readers, the Ray trainer); each gets a ``<name>_version`` column."""


def version_column(package: str) -> str:
    """The column that holds ``package``'s version."""
    return f"{package}_version"


RUN_MANIFESTS = register_table(
    TableSpec(
        name="run_manifests",
        schema=pa.schema(
            [
                pa.field("run_id", pa.string(), nullable=False),
                pa.field("created_at", pa.timestamp("ms", tz="UTC"), nullable=False),
                pa.field("dataset", pa.string(), nullable=False),
                pa.field("backbone", pa.string(), nullable=False),
                pa.field("methods", pa.list_(pa.string()), nullable=False),
                pa.field("seeds", pa.list_(pa.int32()), nullable=False),
                pa.field("config", pa.string(), nullable=False),
                pa.field("windows_sha256", pa.string(), nullable=False),
                pa.field("git_commit", pa.string(), nullable=False),
                pa.field("git_dirty", pa.bool_(), nullable=True),
                pa.field("raie_version", pa.string(), nullable=False),
                *[pa.field(version_column(p), pa.string(), nullable=True) for p in RECORDED_PACKAGES],
                pa.field("python_version", pa.string(), nullable=False),
                pa.field("platform", pa.string(), nullable=False),
                pa.field("cpu", pa.string(), nullable=False),
                pa.field("device", pa.string(), nullable=False),
                pa.field("threads", pa.int32(), nullable=False),
                pa.field("deterministic", pa.bool_(), nullable=False),
            ]
        ),
        partition_by=("run_id",),
        description=(
            "One row per run: what produced its numbers. config = the full config as JSON; "
            "windows_sha256 = hash of every block's window arrays and the ids they code; "
            "git_commit 'unknown' (git_dirty NULL) outside a git checkout; <package>_version NULL "
            "when not installed; threads = torch intra-op threads; deterministic = torch's "
            "deterministic algorithms were on."
        ),
    )
)
