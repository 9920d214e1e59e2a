"""Retrieval of next items (raie/retrieval.py) and the hybrid strategy built on it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from raie.backbones import SequentialRecommender
from raie.config import ExperimentConfig, HybridConfig, PromotionConfig
from raie.errors import ConfigError
from raie.experiment import run_line, setup_state, train_setup_model
from raie.protocol.blocks import ProtocolData
from raie.protocol.windows import Windows
from raie.retrieval import Neighbours, RetrievalBlend, retrieve
from raie.strategies import build_strategy
from raie.strategies.hybrid import RETRIEVAL_WEIGHT

pytestmark = pytest.mark.unit


def _cloud(n: int, seed: int = 0, users: int | None = None) -> tuple[Windows, np.ndarray]:
    """``n`` windows of ``users`` users (default: each its own) with random representations."""
    rng = np.random.default_rng(seed)
    rep = rng.normal(size=(n, 16)).astype(np.float32)
    ts = rng.integers(0, n // 4, size=n)  # many ties
    user = np.arange(n) if users is None else rng.integers(0, users, size=n)
    return Windows(user, np.zeros((n, 3), dtype=np.int64), np.arange(1, n + 1), ts), rep


def test_a_window_retrieves_only_other_users_windows_strictly_before_its_target() -> None:
    windows, rep = _cloud(600, users=40)  # window i took item i + 1, which nobody else took
    found = retrieve(windows, rep, windows, rep, k=20)
    assert found.weights.sum() > 0
    for q in range(600):
        got = found.items[q][found.weights[q] > 0] - 1  # the windows retrieved
        assert q not in got, "a window retrieved itself"
        assert np.all(windows.ts[got] < windows.ts[q]), "a window retrieved one at or after its own time"
        assert np.all(windows.user[got] != windows.user[q]), "a window retrieved its own user's"


def test_retrieval_finds_the_nearest_earlier_windows() -> None:
    windows, rep = _cloud(400)
    found = retrieve(windows, rep, windows, rep, k=10)
    unit = rep / np.linalg.norm(rep, axis=1, keepdims=True)
    ts = windows.ts
    for q in np.flatnonzero(ts >= 20)[:50]:
        earlier = np.flatnonzero(ts < ts[q])
        exact = earlier[np.argsort(-(unit[earlier] @ unit[q]))[:10]]
        got = found.items[q][found.weights[q] > 0] - 1
        assert len(set(got.tolist()) & set(exact.tolist())) >= 9, "the HNSW index missed most exact neighbours"
        assert np.all(np.diff(found.weights[q][: len(got)]) <= 1e-6), "neighbours come nearest first"


def test_the_same_query_retrieves_the_same_neighbours_each_run() -> None:
    windows, rep = _cloud(500, users=30)
    first, second = retrieve(windows, rep, windows, rep, k=15), retrieve(windows, rep, windows, rep, k=15)
    np.testing.assert_array_equal(first.items, second.items)
    np.testing.assert_array_equal(first.weights, second.weights)


def test_the_blend_lifts_retrieved_items_and_keeps_the_model_order_elsewhere() -> None:
    scores = torch.tensor([[0.0, 3.0, 2.0, 1.0, 0.5], [0.0, 3.0, 2.0, 1.0, 0.5]])
    neighbours = Neighbours(np.array([[4, 4], [0, 0]]), np.array([[0.9, 0.8], [0.0, 0.0]], dtype=np.float32))
    blended = RetrievalBlend(neighbours, 0.5)(slice(0, 2), scores)
    assert blended[0].argmax() == 4, "the item both neighbours took comes first"
    assert torch.equal(blended[0, 1:4].argsort(), scores[0, 1:4].argsort()), "the others keep the model's order"
    assert torch.equal(blended[1].argsort(), scores[1].argsort()), "no neighbours: the model's ranking"
    assert RetrievalBlend(neighbours, 0.0)(slice(0, 2), scores) is scores


def test_hybrid_fine_tunes_on_its_schedule_and_its_config_is_checked() -> None:
    hybrid = build_strategy("hybrid")
    config = ExperimentConfig(hybrid=HybridConfig(finetune_every=2))
    assert [hybrid.trains_on(k, config) for k in (1, 2, 3, 4, 5)] == [True, False, True, False, True]
    assert build_strategy("lora").trains_on(2, config)
    with pytest.raises(ConfigError, match="weights"):
        HybridConfig(weights=(0.0, 1.0))
    with pytest.raises(ConfigError, match="finetune_every"):
        HybridConfig(finetune_every=0)


@pytest.fixture(scope="module")
def setup_model(synthetic_data: ProtocolData, fast_config: ExperimentConfig) -> SequentialRecommender:
    return train_setup_model("sasrec", fast_config, synthetic_data, seed=0, device=torch.device("cpu"))


def test_hybrid_scores_never_read_later_windows_and_record_their_weight_and_cost(
    setup_model: SequentialRecommender, synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    config = dataclasses.replace(
        fast_config,
        promotion=PromotionConfig(max_regression=1.0),
        hybrid=HybridConfig(weights=(0.5,)),  # one candidate, so retrieval is on whatever F.valid says
    )
    device = torch.device("cpu")
    setup = setup_state(setup_model, synthetic_data, config, 0, device)
    line = run_line(setup, synthetic_data, config, 0, ("lora", "hybrid"), True, tmp_path, device)
    live = line.result.state.live
    manifest = line.scorer.registry.get("baseline_hybrid", live["baseline_hybrid"]).manifest
    assert manifest.metrics[RETRIEVAL_WEIGHT] == 0.5
    assert (manifest.metrics["trained_parameters"] or 0) > 0

    windows = synthetic_data.block("T").eval
    lora, hybrid = line.score(windows)
    assert hybrid.seconds > 0 and not np.array_equal(hybrid.ranking.ranks, lora.ranking.ranks)
    # Change what the later half of T's windows took: the earlier half's ranks must not move.
    later = windows.ts >= np.median(windows.ts)
    shuffled = np.where(later, np.roll(windows.target, 7), windows.target)
    changed = line.score(Windows(windows.user, windows.context, shuffled, windows.ts))[1]
    np.testing.assert_array_equal(changed.ranking.ranks[~later], hybrid.ranking.ranks[~later])
    jobs = line.rows("hybrid")["train_jobs"]
    assert [j["trained_parameters"] for j in jobs] == [manifest.metrics["trained_parameters"]]
