"""The run manifest: everything besides the seed that decides a run's numbers, kept in the store.

A table of Recall@10 is only worth comparing with another if both came from
the same code, data, packages and thread count. ``run_manifest`` gathers
those facts when a run starts and ``record_run_manifest`` writes them as one
row of ``run_manifests`` (``raie/store/manifest_tables.py``), next to the
run's ``experiment_results``, so that SQL can join the two:

    SELECT r.method, r.value, m.git_commit, m.torch_version, m.threads
    FROM experiment_results r JOIN run_manifests m USING (run_id)

The windows are hashed rather than the raw files because the windows are what
every method learns from and is scored on: the same hash means the same
loader, preprocessing, tie order and protocol output, whatever the files were.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

import raie
from raie.config import ExperimentConfig
from raie.protocol.blocks import ProtocolData
from raie.store import Store
from raie.store.manifest_tables import RECORDED_PACKAGES, RUN_MANIFESTS, version_column

UNKNOWN = "unknown"
"""What a fact we could not read is recorded as, where the column cannot be NULL."""

WINDOW_PARTS: tuple[str, ...] = ("train", "valid", "holdout", "eval")
WINDOW_ARRAYS: tuple[str, ...] = ("user", "context", "target", "ts")
"""The order the windows are hashed in (blocks in protocol order, then these); changing
it changes every hash, so it is fixed here rather than taken from the dataclasses."""

GIT_TIMEOUT_S = 10.0
"""A git call that takes longer (a network file system, a huge untracked tree) is
not worth delaying a run for; the commit is then recorded as unknown."""

CPUINFO = Path("/proc/cpuinfo")
SOURCE_ROOT = Path(raie.__file__).resolve().parent.parent
"""The checkout raie runs from, when it runs from one (not from an installed wheel)."""


def run_manifest(
    data: ProtocolData,
    config: ExperimentConfig,
    *,
    dataset: str,
    backbone: str,
    methods: Sequence[str],
    seeds: Sequence[int],
    threads: int,
    device: torch.device | str,
) -> dict[str, object]:
    """The manifest of a run about to start: one ``run_manifests`` row without run id and time.

    ``threads`` is the torch intra-op count the run uses (what
    ``raie.seeding.make_deterministic`` returned).
    """
    commit, dirty = git_state(SOURCE_ROOT)
    versions = package_versions(RECORDED_PACKAGES)
    return {
        "dataset": dataset,
        "backbone": backbone,
        "methods": list(methods),
        "seeds": [int(s) for s in seeds],
        "config": json.dumps(dataclasses.asdict(config), sort_keys=True),
        "windows_sha256": windows_sha256(data),
        "git_commit": commit,
        "git_dirty": dirty,
        "raie_version": raie.__version__,
        **{version_column(name): version for name, version in versions.items()},
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "device": str(device),
        "threads": threads,
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }


def record_run_manifest(store: Store, run_id: str, manifest: dict[str, object]) -> int:
    """Write ``manifest`` as the one ``run_manifests`` row of ``run_id`` (replacing an earlier one)."""
    row = {"run_id": run_id, "created_at": datetime.now(UTC), **manifest}
    return store.write(RUN_MANIFESTS.name, pa.Table.from_pylist([row], schema=RUN_MANIFESTS.schema))


def windows_sha256(data: ProtocolData) -> str:
    """SHA-256 of every block's windows, part by part, and of the ids their codes stand for.

    Arrays are hashed as little-endian int64 behind a header naming the block,
    part, array and shape, so equal bytes in a different place or shape never
    collide and the hash is the same on every platform.
    """
    digest = hashlib.sha256()
    for block in data.blocks:
        for part in WINDOW_PARTS:
            windows = getattr(block, part)
            for name in WINDOW_ARRAYS:
                values = np.ascontiguousarray(getattr(windows, name), dtype="<i8")
                digest.update(f"{block.name}/{part}/{name}{values.shape}\n".encode())
                digest.update(values.tobytes())
    # Codes mean nothing without their ids: a re-coding must change the hash or leave the windows alone.
    ids = {"user_ids": data.positives.user_ids, "item_ids": data.positives.item_ids}
    digest.update(json.dumps(ids).encode())
    return digest.hexdigest()


def git_state(root: Path) -> tuple[str, bool | None]:
    """The commit checked out at ``root`` and whether the tree differs from it.

    ("unknown", None) when ``root`` is no git checkout, git is missing or fails.
    Untracked files count as a difference: a new module changes what runs.
    """
    if not (root / ".git").exists():  # a directory, or a file in a worktree
        return UNKNOWN, None
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return UNKNOWN, None
    # --no-optional-locks: a status that only reads must not take the index lock
    # from a git command the user runs at the same time.
    status = _git(root, "--no-optional-locks", "status", "--porcelain")
    return commit.strip(), None if status is None else bool(status.strip())


def _git(root: Path, *args: str) -> str | None:
    """git's output, or None when it could not run or failed."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def package_versions(names: Sequence[str]) -> dict[str, str | None]:
    """Installed version of each distribution in ``names``; None for one that is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        lines = cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or UNKNOWN
