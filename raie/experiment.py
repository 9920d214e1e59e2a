"""The offline runner: Set-up once per seed, then every method under one protocol.

Everything the stream does, this runner does in-process through the same
``raie`` functions (DESIGN.md section 2), so the numbers are comparable.
"""

from __future__ import annotations

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

from raie.backbones import SequentialRecommender, build_backbone
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.data.dataset import load_dataset
from raie.device import default_device
from raie.evaluation import Ranking, rank_windows
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import preprocess
from raie.protocol.windows import Windows
from raie.recording import MemoryRecorder, Row
from raie.seeding import seed_everything
from raie.store import Store, table_spec
from raie.strategies import StrategyContext, build_strategy
from raie.strategies.routed import RoutedRecommender
from raie.training import cross_entropy, fit

RESULTS_TABLE = "experiment_results"
ROUTING_TABLE = "routing"


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


@dataclass(frozen=True)
class ExperimentOutcome:
    run_id: str
    seconds: float
    results: pa.Table  # the rows written to experiment_results
    rankings: dict[tuple[str, int, str], Ranking]
    """(method, seed, split) -> per-window ranks, for paired comparisons."""


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


def train_setup_on(
    backbone: str,
    config: ExperimentConfig,
    catalog: Catalog,
    train: Windows,
    valid: Windows,
    seed: int,
    device: torch.device,
) -> SequentialRecommender:
    """A frozen backbone trained on ``train`` and early-stopped on ``valid``; the stream's Set-up uses it too."""
    seed_everything(seed)
    model = build_backbone(backbone, config, catalog).to(device)
    fit(
        model,
        lambda rng: train,
        cross_entropy(model),
        config.setup_train,
        valid=valid,
        device=device,
        seed=seed,
        desc=f"set-up seed {seed}",
        eval_batch_size=config.eval_batch_size,
    )
    model.requires_grad_(False)
    return model.eval()


def run_experiment(request: ExperimentRequest, data: ProtocolData | None = None) -> ExperimentOutcome:
    started = time.perf_counter()
    run_id = run_id_for(request)
    if data is None:
        data = prepare_data(request)
    device = default_device()
    rankings: dict[tuple[str, int, str], Ranking] = {}
    parts = []
    with Store.open(request.store_dir) as store:
        for seed in request.seeds:
            setup_model = train_setup_model(request.backbone, request.config, data, seed, device)
            for method in request.methods:
                seed_everything(seed)
                recorder = MemoryRecorder()
                context = StrategyContext(request.config, data, device, seed, recorder)
                model = build_strategy(method).update(setup_model, context)
                rows = []
                for split, windows in scored_windows(data).items():
                    if isinstance(model, RoutedRecommender):
                        recorder.record(ROUTING_TABLE, _routing_rows(model, windows, split, device))
                    ranking = rank_windows(
                        model,
                        windows,
                        batch_size=request.config.eval_batch_size,
                        device=device,
                        desc=f"eval {method} seed {seed} {split}",
                    )
                    rankings[(method, seed, split)] = ranking
                    rows += _result_rows(run_id, request, method, seed, split, ranking)
                table = pa.Table.from_pylist(rows, schema=table_spec(RESULTS_TABLE).schema)
                # Written per (method, seed) so that an interrupted run keeps what it finished.
                store.write(RESULTS_TABLE, table)
                parts.append(table)
                key = {"run_id": run_id, "method": method, "seed": seed}
                for name, recorded in recorder.tables.items():
                    store.write(name, pa.Table.from_pylist([key | r for r in recorded], schema=table_spec(name).schema))
    results = pa.concat_tables(parts) if parts else table_spec(RESULTS_TABLE).schema.empty_table()
    return ExperimentOutcome(run_id, time.perf_counter() - started, results, rankings)


def _routing_rows(model: RoutedRecommender, windows: Windows, split: str, device: torch.device) -> list[Row]:
    """How many scored windows each region's adapter served (-1: the global fallback)."""
    served = model.router.serving(model.router.represent_windows(windows, device))
    regions, counts = np.unique(served, return_counts=True)
    return [{"split": split, "region_id": int(r), "windows": int(n)} for r, n in zip(regions, counts, strict=True)]


def _result_rows(
    run_id: str, request: ExperimentRequest, method: str, seed: int, split: str, ranking: Ranking
) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        {
            "run_id": run_id,
            "dataset": request.dataset,
            "backbone": request.backbone,
            "method": method,
            "seed": seed,
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
