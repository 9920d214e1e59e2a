"""One stream run for a test: ``raie worker`` and ``raie replay`` as real processes on a broker.

A run owns its store and consumer group; what it leaves behind is read back
as a :class:`StreamResult`, so that two runs (or a run and the offline
runner) can be compared field by field.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raie.online.artifacts import ARTIFACTS_DIR
from raie.regions.bank import RegionBank
from raie.store import Store
from streams.worker_process import WorkerProcess, raie_command, unbuffered_env


@dataclass(frozen=True)
class StreamResult:
    interactions: list[tuple[object, ...]]
    """The store's interactions view, one row per event id, sorted."""
    regions: dict[int, list[tuple[int, int, np.ndarray]]]
    """Per slice: (region_id, count, centre) after its edits."""
    edits: dict[int, dict[tuple[int, str], int]]
    """Per slice: samples per (region_id, op)."""
    bank: RegionBank
    """The bank after the last closed slice, from the artifacts a restart resumes from."""


@dataclass
class StreamRun:
    """A worker on ``root/store`` with the given preset, and the replays it consumes."""

    bootstrap: str
    dataset: str
    data_dir: Path
    config_path: Path
    root: Path

    def __post_init__(self) -> None:
        options = ("--dataset", self.dataset, "--config", str(self.config_path), "--app-id", "test-stream")
        self.worker = WorkerProcess(self.bootstrap, self.root / "store", self.root, options)

    def replay(self, speed: float | None = None) -> subprocess.Popen[bytes]:
        command = raie_command("replay", "--dataset", self.dataset, "--data-dir", str(self.data_dir))
        command += ["--bootstrap", self.bootstrap, "--config", str(self.config_path)]
        if speed is not None:
            command += ["--speed", str(speed)]
        with (self.root / "replay.log").open("wb") as out:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=unbuffered_env())

    def stored_interactions(self) -> int:
        if not (self.worker.store / "store.json").is_file():
            return 0
        with Store.open(self.worker.store, read_only=True) as store:
            return int(store.query("SELECT count(*) AS n FROM interactions").column("n")[0].as_py())

    def result(self) -> StreamResult:
        with Store.open(self.worker.store, read_only=True) as store:
            interactions = store.query(
                "SELECT event_id, user_id, item_id, rating, ts, slice FROM interactions ORDER BY event_id"
            ).to_pylist()
            region_rows = store.query(
                "SELECT slice, region_id, count, centre FROM regions WHERE stage = 'after' ORDER BY slice, region_id"
            ).to_pylist()
            edit_rows = store.query("SELECT slice, region_id, op, count FROM edits").to_pylist()
        regions: dict[int, list[tuple[int, int, np.ndarray]]] = {}
        for r in region_rows:
            regions.setdefault(r["slice"], []).append((r["region_id"], r["count"], np.asarray(r["centre"])))
        edits: dict[int, dict[tuple[int, str], int]] = {}
        for r in edit_rows:
            edits.setdefault(r["slice"], {})[(r["region_id"], r["op"])] = r["count"]
        last = self.worker.closed_slices() - 1
        bank = RegionBank.load(self.worker.store / ARTIFACTS_DIR / f"slice={last}" / "regions")
        return StreamResult([tuple(row.values()) for row in interactions], regions, edits, bank)
