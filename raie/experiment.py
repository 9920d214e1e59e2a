"""The offline runner: Set-up once per seed, then the slice step over F, then S and T scored.

It runs the one slice step the stream runs (raie/online/step.py) with the
in-process trainer, once per line of methods (raie/strategies/base.py): the
methods of a line share one bank and one set of adapters, trained once. Its
adapters are versioned under ``<store>/experiments/<run id>/seed=<s>/<line>/``
like the stream's. S is then scored on its held-out windows and T on its
evaluation windows, with the state after F, by the scorer the stream uses
for its prequential scores; so with cutoffs 0.5/0.8 the stream's slice 2 is
this runner's T.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from raie.backbones import SequentialRecommender
from raie.config import ExperimentConfig
from raie.data.dataset import load_dataset
from raie.device import default_device
from raie.evaluation import Ranking
from raie.online.artifacts import Artifacts
from raie.online.prequential import Scorer
from raie.online.rows import cost_row, experiment_rows
from raie.online.setup import initial_state
from raie.online.setup_model import train_setup_on
from raie.online.slice_training import PromotionDecision
from raie.online.state import MethodScore, SliceData, SliceResult, StepState
from raie.online.step import StepSettings, step
from raie.online.trainer import InProcessTrainer
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import preprocess
from raie.protocol.windows import Windows
from raie.recording import Row
from raie.run_manifest import record_run_manifest, run_manifest
from raie.seeding import make_deterministic
from raie.store import Store, table_spec
from raie.strategies import build_strategy, lines

RESULTS_TABLE = "experiment_results"
ROUTING_TABLE = "routing"
COSTS_TABLE = "method_costs"
EXPERIMENTS_DIR = "experiments"
"""Where a run's adapters live in the store, per seed and line."""
UPDATE_BLOCK = "F"
"""The offline protocol's one update slice (slice 1); S is slice 0 and T is only scored."""


def scored_windows(data: ProtocolData) -> dict[str, Windows]:
    """S is scored on its held-out windows, T on all its right-aligned windows."""
    return {"S": data.block("S").holdout, "T": data.block("T").eval}


@dataclass(frozen=True)
class ExperimentRequest:
    dataset: str
    data_dir: Path
    backbone: str
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    store_dir: Path
    config: ExperimentConfig
    threads: int | None = None
    """Torch intra-op threads (None: torch's default); recorded in the run manifest."""


@dataclass(frozen=True)
class ExperimentOutcome:
    run_id: str
    seconds: float
    results: pa.Table  # the rows written to experiment_results
    rankings: dict[tuple[str, int, str], Ranking]
    """(method, seed, split) -> per-window ranks, for paired comparisons."""
    promotions: dict[tuple[int, str], list[PromotionDecision]] = dataclasses.field(default_factory=dict)
    """(seed, line) -> the promotion guard's decisions on the versions F trained (raie/online/promotion.py)."""


def run_id_for(request: ExperimentRequest) -> str:
    """Same data, backbone and config give the same id, so a re-run replaces its rows."""
    identity = {
        "dataset": request.dataset,
        "data_dir": str(request.data_dir.resolve()),
        "backbone": request.backbone,
        "config": dataclasses.asdict(request.config),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{request.dataset}-{request.backbone}-{digest[:10]}"


def prepare_data(request: ExperimentRequest) -> ProtocolData:
    dataset = load_dataset(request.dataset, request.data_dir)
    positives = preprocess(dataset.interactions, request.config.preprocess)
    return build_protocol(positives, request.config.protocol, dataset.items)


def train_setup_model(
    backbone: str, config: ExperimentConfig, data: ProtocolData, seed: int, device: torch.device
) -> SequentialRecommender:
    """The Set-up backbone: trained on S, early-stopped on S's validation part."""
    setup = data.block("S")
    return train_setup_on(backbone, config, data.catalog, setup.train, setup.valid, seed, device)


@dataclass(frozen=True)
class LineRun:
    """One line of methods after the update slice: what the step did, and a scorer of its state."""

    methods: tuple[str, ...]
    result: SliceResult
    scorer: Scorer

    def score(self, windows: Windows) -> list[MethodScore]:
        return self.scorer.score(self.result.state, windows, None, self.methods)

    def model(self, method: str) -> SequentialRecommender:
        return self.scorer.model_for(method, self.result.state)

    def rows(self, method: str) -> dict[str, list[Row]]:
        return experiment_rows(method, self.result)


def run_line(
    setup: StepState,
    data: ProtocolData,
    config: ExperimentConfig,
    seed: int,
    methods: tuple[str, ...],
    editing: bool,
    root: Path,
    device: torch.device,
) -> LineRun:
    """The slice step over F from the Set-up state, for one line of methods; adapters under ``root``."""
    artifacts = Artifacts.in_store(root)
    update = data.block(UPDATE_BLOCK)
    empty = update.eval.take(np.zeros(0, dtype=np.int64))  # F is not scored offline
    slice_data = SliceData(setup.closed_slices, update.train, update.valid, empty)
    settings = StepSettings(config, seed, methods, editing)
    result = asyncio.run(step(setup, slice_data, InProcessTrainer(device), settings, artifacts, device))
    return LineRun(methods, result, Scorer(config, artifacts.registry, device))


def setup_state(
    setup_model: SequentialRecommender, data: ProtocolData, config: ExperimentConfig, seed: int, device: torch.device
) -> StepState:
    """The state after S: regions and rehearsal memory from S's training windows (shared by every line)."""
    return initial_state(setup_model, data.block("S").train, config, seed, device)[0]


def adapt(
    method: str,
    setup_model: SequentialRecommender,
    data: ProtocolData,
    config: ExperimentConfig,
    seed: int,
    root: Path,
    device: torch.device,
) -> tuple[SequentialRecommender, dict[str, list[Row]]]:
    """One method alone through F: the model that scores it and the rows it records (tests, benches)."""
    setup = setup_state(setup_model, data, config, seed, device)
    line = run_line(setup, data, config, seed, (method,), build_strategy(method).editing, root, device)
    return line.model(method), line.rows(method)


def line_root(store_dir: Path, run_id: str, seed: int, editing: bool) -> Path:
    return store_dir / EXPERIMENTS_DIR / run_id / f"seed={seed}" / ("editing" if editing else "fixed")


def run_experiment(request: ExperimentRequest, data: ProtocolData | None = None) -> ExperimentOutcome:
    started = time.perf_counter()
    run_id = run_id_for(request)
    device = default_device()
    # Pinned threads and deterministic kernels, before any model is built (raie/seeding.py).
    threads = make_deterministic(request.threads, device)
    if data is None:
        data = prepare_data(request)
    manifest = run_manifest(
        data,
        request.config,
        dataset=request.dataset,
        backbone=request.backbone,
        methods=request.methods,
        seeds=request.seeds,
        threads=threads,
        device=device,
    )
    rankings: dict[tuple[str, int, str], Ranking] = {}
    promotions: dict[tuple[int, str], list[PromotionDecision]] = {}
    parts = []
    with Store.open(request.store_dir) as store:
        # First, so that no result is in the store without what produced it.
        record_run_manifest(store, run_id, manifest)
        for seed in request.seeds:
            setup_model = train_setup_model(request.backbone, request.config, data, seed, device)
            setup = setup_state(setup_model, data, request.config, seed, device)
            for editing, methods in lines(request.methods).items():
                root = line_root(request.store_dir, run_id, seed, editing)
                line = run_line(setup, data, request.config, seed, methods, editing, root, device)
                promotions[(seed, root.name)] = line.result.training.decisions
                scores = {split: line.score(windows) for split, windows in scored_windows(data).items()}
                for i, method in enumerate(methods):
                    by_split = {split: split_scores[i] for split, split_scores in scores.items()}
                    rankings |= {(method, seed, split): score.ranking for split, score in by_split.items()}
                    # Written per (method, seed) so that an interrupted run keeps what it finished.
                    key = {"run_id": run_id, "method": method, "seed": seed}
                    recorded = line.rows(method)
                    # The update slice's training, beside the cost of scoring T with its result.
                    recorded[COSTS_TABLE] = [cost_row(line.result.slice, recorded["train_jobs"], by_split["T"])]
                    parts.append(_store_method(store, request, key, by_split, recorded))
    results = pa.concat_tables(parts) if parts else table_spec(RESULTS_TABLE).schema.empty_table()
    return ExperimentOutcome(run_id, time.perf_counter() - started, results, rankings, promotions)


def _store_method(
    store: Store,
    request: ExperimentRequest,
    key: dict[str, object],
    scores: dict[str, MethodScore],
    recorded: dict[str, list[Row]],
) -> pa.Table:
    """Write one method's results, and what it recorded, under ``key``; the results table."""
    rows = []
    for split, score in scores.items():
        rows += _result_rows(request, key, split, score.ranking)
        if score.region_id is not None:
            recorded.setdefault(ROUTING_TABLE, []).extend(_routing_rows(score.region_id, split))
    table = pa.Table.from_pylist(rows, schema=table_spec(RESULTS_TABLE).schema)
    store.write(RESULTS_TABLE, table)
    for name, table_rows in recorded.items():
        store.write(name, pa.Table.from_pylist([key | r for r in table_rows], schema=table_spec(name).schema))
    return table


def _routing_rows(served: list[int], split: str) -> list[Row]:
    """How many scored windows each region's adapter served (-1: the global fallback)."""
    regions, counts = np.unique(np.asarray(served, dtype=np.int64), return_counts=True)
    return [{"split": split, "region_id": int(r), "windows": int(n)} for r, n in zip(regions, counts, strict=True)]


def _result_rows(
    request: ExperimentRequest, key: dict[str, object], split: str, ranking: Ranking
) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        key
        | {
            "dataset": request.dataset,
            "backbone": request.backbone,
            "split": split,
            "metric": value.metric,
            "k": value.k,
            "average": value.average,
            "value": value.value,
            "n_windows": len(ranking.ranks),
            "created_at": now,
        }
        for value in ranking.summary()
    ]
