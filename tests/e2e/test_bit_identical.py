"""The same `raie experiment` run twice on CPU stores bit-identical numbers, and a manifest saying why.

Each run is a fresh process, as a user re-running the command gets, with a
different hash seed, so that nothing may depend on the order of a set of
strings or on state a first run left behind in the process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raie.config import ExperimentConfig, PreprocessConfig
from raie.store import Store
from raie.store.manifest_tables import RUN_MANIFESTS
from tests.paths import ML_LATEST_SMALL, REPO

pytestmark = pytest.mark.e2e

SLICE_USERS = 40
"""MovieLens's first 40 users (about 5,700 ratings, 2,200 training windows): every
block has windows for base, lora and raie to train and score, and each run takes
seconds."""

METHODS = "base,lora,raie"
THREADS = 2
"""Torch's intra-op count in both runs (through OMP_NUM_THREADS, which sets torch's
default): the count is part of what makes numbers repeatable, so the test fixes it."""

RUN_TIMEOUT_S = 300
"""Far above the ~20 s a run takes; only a hung run gets near it."""

RESULT_KEY = "run_id, method, seed, split, metric, k, average"


@pytest.fixture
def movielens_slice(tmp_path: Path) -> Path:
    """The bundled ml-latest-small cut to its first users (ratings.csv is sorted by userId)."""
    out = tmp_path / "ml-slice"
    out.mkdir()
    shutil.copy(ML_LATEST_SMALL / "movies.csv", out / "movies.csv")
    with (ML_LATEST_SMALL / "ratings.csv").open() as source, (out / "ratings.csv").open("w") as target:
        target.write(next(source))
        for line in source:
            if int(line.split(",", 1)[0]) > SLICE_USERS:
                break
            target.write(line)
    return out


@pytest.fixture
def config_file(fast_config: ExperimentConfig, tmp_path: Path) -> Path:
    config = dataclasses.replace(
        fast_config, dataset="movielens", preprocess=PreprocessConfig(min_rating=4.0, dedupe=True, k_core=0)
    )
    path = tmp_path / "tiny.yaml"
    # A JSON round trip turns the dataclass tuples into the lists YAML expects.
    path.write_text(yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(config)))))
    return path


def start_run(data_dir: Path, config: Path, store: Path, hash_seed: int) -> subprocess.Popen[str]:
    """`raie experiment` in a fresh process on CPU, started and left running."""
    argv = ["experiment", "--dataset", "movielens", "--data-dir", str(data_dir), "--config", str(config)]
    argv += ["--methods", METHODS, "--seeds", "0", "--store", str(store)]
    code = "import sys; from raie.cli.main import main; raise SystemExit(main(sys.argv[1:]))"
    # No visible GPU: the runs are on CPU, where bit-identical numbers are promised.
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "OMP_NUM_THREADS": str(THREADS), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_all(runs: list[subprocess.Popen[str]]) -> None:
    """Wait for every run, and fail with the output of those that failed; none is left running."""
    failures = []
    try:
        for run in runs:
            out, err = run.communicate(timeout=RUN_TIMEOUT_S)
            if run.returncode != 0:
                failures.append(f"{out[-3000:]}\n{err[-3000:]}")
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert not failures, "raie experiment failed:\n" + "\n".join(failures)


def stored_results(store_dir: Path) -> list[tuple[object, ...]]:
    """Every experiment_results row but its write time, with the value's exact bits."""
    with Store.open(store_dir, read_only=True) as store:
        rows = store.query(
            f"SELECT {RESULT_KEY}, n_windows, value FROM experiment_results ORDER BY {RESULT_KEY}"
        ).to_pylist()
    return [(*(row[c] for c in row if c != "value"), float(row["value"]).hex()) for row in rows]


def stored_manifests(store_dir: Path) -> list[dict[str, object]]:
    """Every run_manifests row but its write time."""
    with Store.open(store_dir, read_only=True) as store:
        rows: list[dict[str, object]] = store.query(
            f"SELECT * EXCLUDE (created_at) FROM {RUN_MANIFESTS.name}"
        ).to_pylist()
    return rows


def test_two_runs_store_bit_identical_results_and_the_same_manifest(
    movielens_slice: Path, config_file: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    # Side by side: each run is alone in its process, and the test takes one run's time, not two.
    runs = [start_run(movielens_slice, config_file, store, hash_seed) for store, hash_seed in ((first, 1), (second, 2))]
    wait_for_all(runs)

    results = stored_results(first)
    # 3 methods x 1 seed x 2 splits x 2 metrics x 3 cutoffs x 2 averages
    assert len(results) == 3 * 2 * 2 * 3 * 2
    assert any(float.fromhex(str(row[-1])) > 0 for row in results)  # trained and scored, not all zeros
    assert stored_results(second) == results

    manifests = [stored_manifests(first), stored_manifests(second)]
    assert [len(m) for m in manifests] == [1, 1], "run_experiment records one run_manifests row per run"
    mine, theirs = manifests[0][0], manifests[1][0]
    assert mine["run_id"] == results[0][0]
    assert mine["deterministic"] is True
    assert mine["threads"] == THREADS
    assert mine["device"] == "cpu"
    assert mine["methods"] == METHODS.split(",")
    assert mine == theirs
