"""RAIE and its ablations end to end on small drifting data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from raie.adapters.routed import RoutedRecommender
from raie.backbones import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, adapted_backbone
from raie.config import ExperimentConfig, RegionConfig
from raie.experiment import adapt, train_setup_model
from raie.protocol.blocks import ProtocolData
from raie.recording import Row
from raie.regions.router import represent_windows
from raie.strategies.region_training import overlap_penalty

pytestmark = pytest.mark.unit

SMALL_REGIONS = RegionConfig(regions=2, buffer_size=24, min_region_size=8, tau=0.3)
"""Sizes that let the 120-user synthetic data create and train regions."""


@pytest.fixture(scope="module")
def config(fast_config: ExperimentConfig) -> ExperimentConfig:
    return dataclasses.replace(fast_config, regions=SMALL_REGIONS)


@pytest.fixture(scope="module")
def setup_model(synthetic_data: ProtocolData, config: ExperimentConfig) -> SequentialRecommender:
    return train_setup_model("sasrec", config, synthetic_data, seed=0, device=torch.device("cpu"))


Outcome = tuple[SequentialRecommender, dict[str, list[Row]]]


def run(method: str, model: SequentialRecommender, data: ProtocolData, config: ExperimentConfig, root: Path) -> Outcome:
    return adapt(method, model, data, config, 0, root, torch.device("cpu"))


@pytest.fixture(scope="module")
def raie_run(
    setup_model: SequentialRecommender,
    synthetic_data: ProtocolData,
    config: ExperimentConfig,
    tmp_path_factory: pytest.TempPathFactory,
) -> Outcome:
    before = {k: v.clone() for k, v in setup_model.state_dict().items()}
    outcome = run("raie", setup_model, synthetic_data, config, tmp_path_factory.mktemp("raie"))
    assert all(torch.equal(before[k], v) for k, v in setup_model.state_dict().items())
    return outcome


def test_representation_never_depends_on_the_target(
    setup_model: SequentialRecommender, synthetic_data: ProtocolData
) -> None:
    windows = synthetic_data.block("F").train
    shuffled = dataclasses.replace(windows, target=np.random.default_rng(0).permutation(windows.target))
    cpu = torch.device("cpu")
    assert np.array_equal(represent_windows(setup_model, windows, cpu), represent_windows(setup_model, shuffled, cpu))


def test_raie_routes_windows_to_region_adapters_and_records_what_it_did(
    raie_run: Outcome, synthetic_data: ProtocolData
) -> None:
    adapted, tables = raie_run
    assert isinstance(adapted, RoutedRecommender)
    ops = {row["op"] for row in tables["edits"]}
    assert {"update", "add"} <= ops
    stages = {(row["stage"], row["region_id"]) for row in tables["regions"]}
    assert {("before", 0), ("before", 1), ("after", 0), ("after", 1)} <= stages
    jobs = tables["train_jobs"]
    assert jobs[0]["adapter"] == GLOBAL_ADAPTER and len(jobs) >= 2
    assert all(job["new_windows"] >= SMALL_REGIONS.min_region_size for job in jobs[1:])

    # Each window is scored exactly as its own adapter would score it alone.
    context = torch.from_numpy(synthetic_data.block("T").eval.context[:64])
    names = adapted.serving_adapters(context)
    with torch.no_grad():
        routed = adapted.full_sort_scores(context)
        backbone = adapted_backbone(adapted.model)
        for name in set(names):
            rows = [i for i, n in enumerate(names) if n == name]
            adapted.model.set_adapter(name)
            assert torch.allclose(routed[rows], backbone.full_sort_scores(context[rows]), atol=1e-5)


def test_inference_below_tau_infer_falls_back_to_the_global_adapter(
    raie_run: Outcome, synthetic_data: ProtocolData
) -> None:
    adapted = raie_run[0]
    assert isinstance(adapted, RoutedRecommender)
    adapted.router = dataclasses.replace(
        adapted.router, config=dataclasses.replace(SMALL_REGIONS, tau_infer=1.0 - 1e-9)
    )
    context = torch.from_numpy(synthetic_data.block("T").eval.context[:32])
    assert set(adapted.serving_adapters(context)) == {GLOBAL_ADAPTER}


@pytest.mark.parametrize(
    ("method", "routed", "edited"),
    [("raie-wo-kr", False, True), ("raie-wo-ke", True, False), ("raie-wo-all", False, False)],
)
def test_ablations_switch_off_their_part(
    method: str,
    routed: bool,
    edited: bool,
    setup_model: SequentialRecommender,
    synthetic_data: ProtocolData,
    config: ExperimentConfig,
    tmp_path: Path,
) -> None:
    adapted, tables = run(method, setup_model, synthetic_data, config, tmp_path)
    assert isinstance(adapted, RoutedRecommender) is routed
    assert ("edits" in tables) is edited
    after = {r["region_id"] for r in tables["regions"] if r["stage"] == "after"}
    if not edited:
        assert after == {0, 1}
    context = torch.from_numpy(synthetic_data.block("T").eval.context[:8])
    with torch.no_grad():
        assert adapted.full_sort_scores(context).shape == (8, len(setup_model.item_vectors()))


def test_overlap_penalty_is_a_margin_hinge_on_the_closest_rival() -> None:
    centres = torch.eye(3)
    h = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    # Row 0: own 1.0, rival 0.0 -> max(0, 0.1 + 0 - 1) = 0. Row 1: own 0.6, rival 0.8 -> 0.3.
    assert overlap_penalty(h, centres, own=0, margin=0.1).item() == pytest.approx(0.15)


def test_async_representation_runs_off_the_event_loop_and_matches(
    raie_run: Outcome, synthetic_data: ProtocolData
) -> None:
    import asyncio

    adapted = raie_run[0]
    assert isinstance(adapted, RoutedRecommender)
    context = torch.from_numpy(synthetic_data.block("T").eval.context[:16])
    off_loop = asyncio.run(adapted.router.represent_async(context))
    assert np.array_equal(off_loop, adapted.router.represent(context))
