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

from raie.online.artifacts import ARTIFACTS_DIR, Artifacts
from raie.regions.bank import RegionBank
from raie.store import Store
from streams.worker_process import WorkerProcess, raie_command, unbuffered_env
from tests.integration.broker import FRESH


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
    adapters: dict[tuple[str, int], str]
    """(adapter, version) -> sha256, from the store's ``adapters`` table."""
    live: dict[str, int]
    """The adapter versions that serve after the last closed slice."""
    job_steps: list[tuple[str, str, int]]
    """(job_id, status, attempt) from ``train_job_events``, in time order."""
    windows: dict[tuple[str, int, str], int]
    """(method, slice, role) -> rows of the ``windows`` table."""
    duplicated_windows: int
    """``windows`` keys (run, method, seed, slice, role, user, position) stored more than once."""
    recall10: dict[tuple[str, int], float]
    """(method, slice) -> prequential window-averaged Recall@10 from ``metrics``."""


@dataclass
class StreamRun:
    """A worker on ``root/store`` with the given preset, and the replays it consumes."""

    bootstrap: str
    dataset: str
    data_dir: Path
    config_path: Path
    root: Path
    worker_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        options: tuple[str, ...] = ("--dataset", self.dataset, "--config", str(self.config_path))
        options += ("--app-id", "test-stream", *self.worker_options)
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
            adapter_rows = store.query("SELECT adapter, version, sha256 FROM adapters").to_pylist()
            step_rows = store.query(
                "SELECT job_id, status, attempt FROM train_job_events ORDER BY at_ms, attempt"
            ).to_pylist()
            window_rows = store.query("SELECT method, slice, role, count(*) AS n FROM windows GROUP BY ALL").to_pylist()
            duplicated = store.query(
                "SELECT count(*) AS n FROM (SELECT 1 FROM windows GROUP BY run_id, method, seed, slice, role, "
                "user_id, position HAVING count(*) > 1)"
            ).column("n")[0]
            recall_rows = store.query(
                "SELECT method, slice, value FROM metrics WHERE metric = 'recall' AND k = 10 AND average = 'window'"
            ).to_pylist()
        regions: dict[int, list[tuple[int, int, np.ndarray]]] = {}
        for r in region_rows:
            regions.setdefault(r["slice"], []).append((r["region_id"], r["count"], np.asarray(r["centre"])))
        edits: dict[int, dict[tuple[int, str], int]] = {}
        for r in edit_rows:
            edits.setdefault(r["slice"], {})[(r["region_id"], r["op"])] = r["count"]
        last = self.worker.closed_slices() - 1
        bank = RegionBank.load(self.worker.store / ARTIFACTS_DIR / f"slice={last}" / "regions")
        return StreamResult(
            [tuple(row.values()) for row in interactions],
            regions,
            edits,
            bank,
            {(r["adapter"], r["version"]): r["sha256"] for r in adapter_rows},
            Artifacts.in_store(self.worker.store).load_live(),
            [(r["job_id"], r["status"], r["attempt"]) for r in step_rows],
            {(r["method"], r["slice"], r["role"]): r["n"] for r in window_rows},
            int(duplicated.as_py()),
            {(r["method"], r["slice"]): r["value"] for r in recall_rows},
        )


SLICES = 3
"""The protocol's S, F and T: the synthetic preset's cutoffs 0.5, 0.8."""
CLOSE_WITHIN_S = 600.0
"""Set-up training plus two RAIE updates at the fast config take well under a minute."""


def run_stream(
    root: Path,
    data_dir: Path,
    config_path: Path,
    *,
    kill: bool,
    speed: float | None = None,
    worker_options: tuple[str, ...] = (),
) -> StreamResult:
    """A Yelp-layout replay through ``raie worker`` on a fresh broker: each run's messages are its own."""
    with FRESH.running_empty() as bootstrap:
        run = StreamRun(bootstrap, "yelp", data_dir, config_path, root, worker_options)
        worker = run.worker
        worker.start()
        replay = run.replay(speed)
        try:
            if kill:
                # Once while slice 0 streams in, once after its Set-up closed: tables,
                # offsets, store chunks and artifacts are each caught half-way.
                worker.wait_for(lambda: run.stored_interactions() > 0, CLOSE_WITHIN_S, "stored interactions")
                assert replay.poll() is None, "the replay ended before the kill; slow it down"
                worker.kill()
                worker.start()
                worker.wait_for_slices(1, CLOSE_WITHIN_S)
                worker.kill()
                worker.start()
            worker.wait_for_slices(SLICES, CLOSE_WITHIN_S)
            assert replay.wait(timeout=CLOSE_WITHIN_S) == 0, (root / "replay.log").read_text()
        finally:
            if replay.poll() is None:
                replay.kill()
            code = worker.stop()
        assert code == 0, f"the worker did not stop cleanly on SIGTERM{worker.tail()}"
        return run.result()


EDITOR_LINE = "owns routed-windows"
"""What a worker logs each time the group gives it the editor's partition (streams/editor.py)."""


def run_group_stream(root: Path, data_dir: Path, config_path: Path, *, speed: float) -> StreamResult:
    """Two workers in one group on one store; once Set-up has closed, the one running the
    editor is killed with kill -9 mid-stream and the other finishes the run alone."""
    with FRESH.running_empty() as bootstrap:
        options = ("--trainer", "in-process")  # two local Ray clusters on one machine would fight over ports
        run = StreamRun(bootstrap, "yelp", data_dir, config_path, root, options)
        (root / "second").mkdir()
        workers = [run.worker, WorkerProcess(bootstrap, run.worker.store, root / "second", run.worker.options)]
        for worker in workers:
            worker.start()
        replay = run.replay(speed)
        survivor = workers[0]
        try:
            survivor.wait_for_slices(1, CLOSE_WITHIN_S)
            assert replay.poll() is None, "the replay ended before the kill; slow it down"
            editor = max(workers, key=_last_editor_assignment)
            assert _last_editor_assignment(editor), "no worker took the editor's partition"
            survivor = workers[1 - workers.index(editor)]
            editor.kill()
            survivor.wait_for_slices(SLICES, CLOSE_WITHIN_S)
            assert replay.wait(timeout=CLOSE_WITHIN_S) == 0, (root / "replay.log").read_text()
        finally:
            if replay.poll() is None:
                replay.kill()
            for worker in workers:
                if worker is not survivor and worker.process is not None and worker.process.poll() is None:
                    worker.kill()
            code = survivor.stop()
        assert code == 0, f"the surviving worker did not stop cleanly on SIGTERM{survivor.tail()}"
        return run.result()


def _last_editor_assignment(worker: WorkerProcess) -> str:
    """The log timestamp of the worker's last editor assignment ('' if none): Faust's
    '[YYYY-MM-DD HH:MM:SS,mmm]' prefix sorts as text."""
    lines = [line for line in worker.logs[-1].read_text(errors="replace").splitlines() if EDITOR_LINE in line]
    return lines[-1][: lines[-1].find("]") + 1] if lines else ""
