"""Guarded promotion of adapter versions, rollback, and the slice session honouring a rollback."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch
from peft import get_peft_model_state_dict

from raie.adapters import AdapterManifest, AdapterRegistry
from raie.adapters.routed import region_adapter
from raie.backbones import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, with_lora
from raie.config import ExperimentConfig, PromotionConfig
from raie.config_files import from_dict
from raie.data.dataset import load_dataset
from raie.errors import ConfigError, RaieError
from raie.experiment import setup_state, train_setup_model
from raie.online.artifacts import STATE_FILE, Artifacts, SessionState
from raie.online.candidates import ItemVocabulary
from raie.online.in_process import feed_session
from raie.online.prequential import Scorer
from raie.online.promotion import Promotion, guard_promotions
from raie.online.rows import promotion_row
from raie.online.session import SliceOutcome, SliceSession
from raie.online.slice_training import PROMOTED, REJECTED, ROLLED_BACK
from raie.online.state import StepState
from raie.online.trainer import InProcessTrainer
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import preprocess
from raie.store import Store
from raie.store.files import atomic_write_json
from raie.store.region_tables import PROMOTION_DECISIONS
from raie.strategies.global_lora import baseline_adapter
from tests.online_replay import CPU, EMBED_BATCH

pytestmark = pytest.mark.unit

Weights = dict[str, torch.Tensor]


@pytest.fixture(scope="module")
def setup_model(synthetic_data: ProtocolData, fast_config: ExperimentConfig) -> SequentialRecommender:
    return train_setup_model("sasrec", fast_config, synthetic_data, 0, CPU)


@pytest.fixture(scope="module")
def setup(setup_model: SequentialRecommender, synthetic_data: ProtocolData, fast_config: ExperimentConfig) -> StepState:
    return setup_state(setup_model, synthetic_data, fast_config, 0, CPU)


@pytest.fixture(scope="module")
def zero_delta(setup_model: SequentialRecommender, fast_config: ExperimentConfig) -> Weights:
    """A fresh LoRA's tensors: the Set-up model, whatever adapter they are loaded as."""
    return dict(get_peft_model_state_dict(with_lora(setup_model, fast_config.lora), adapter_name=GLOBAL_ADAPTER))


@pytest.fixture(scope="module")
def damaged(zero_delta: Weights) -> Weights:
    """A version made worse on purpose: every LoRA factor drowned in noise."""
    generator = torch.Generator().manual_seed(0)
    return {name: torch.randn(t.shape, generator=generator) * 3.0 for name, t in zero_delta.items()}


def publish(registry: AdapterRegistry, adapter: str, version: int, weights: Weights, parent: int | None = None) -> None:
    region = None if adapter == GLOBAL_ADAPTER or adapter.startswith("baseline_") else int(adapter.split("_")[1])
    manifest = AdapterManifest(
        adapter, region, version, version, parent, None if parent is None else adapter, 1, 1, 1, {}, "", 0
    )
    registry.publish(manifest, weights)


def guard(
    root: Path,
    config: ExperimentConfig,
    setup: StepState,
    data: ProtocolData,
    before: dict[str, int],
    after: dict[str, int],
    max_regression: float = 0.0,
) -> Promotion:
    scorer = Scorer(config, AdapterRegistry(root), CPU)
    state = dataclasses.replace(setup, closed_slices=after_slice(after), live=after)
    return guard_promotions(before, state, data.block("F").valid, None, scorer, PromotionConfig(max_regression))


def after_slice(live: dict[str, int]) -> int:
    return max(live.values(), default=0) + 1


@pytest.fixture(scope="module")
def regression(
    tmp_path_factory: pytest.TempPathFactory,
    fast_config: ExperimentConfig,
    setup: StepState,
    synthetic_data: ProtocolData,
    zero_delta: Weights,
    damaged: Weights,
) -> tuple[Path, Promotion]:
    """Global version 1 serves the Set-up model's ranking; version 2, trained in slice 2, is noise."""
    root = tmp_path_factory.mktemp("regression")
    registry = AdapterRegistry(root)
    publish(registry, GLOBAL_ADAPTER, 1, zero_delta)
    publish(registry, GLOBAL_ADAPTER, 2, damaged, parent=1)
    promotion = guard(root, fast_config, setup, synthetic_data, {GLOBAL_ADAPTER: 1}, {GLOBAL_ADAPTER: 2})
    return root, promotion


def test_a_version_that_loses_on_validation_is_rejected_and_the_previous_one_serves(
    regression: tuple[Path, Promotion], tmp_path: Path
) -> None:
    _, promotion = regression
    assert promotion.live == {GLOBAL_ADAPTER: 1}
    [decision] = promotion.decisions
    assert decision.decision == REJECTED and not decision.promoted
    assert (decision.slice, decision.candidate_version, decision.previous_version) == (2, 2, 1)
    assert decision.candidate_recall is not None and decision.previous_recall is not None
    assert decision.candidate_recall < decision.previous_recall
    assert decision.reason == (f"valid R@10 {decision.candidate_recall:.4f} < {decision.previous_recall:.4f} - 0.0000")
    # The row the store gets holds both figures.
    key = {"run_id": "r", "method": "raie", "seed": 0, "slice": 2}
    with Store.open(tmp_path / "store") as store:
        store.replace_partition("promotions", key, [promotion_row(decision)])
        [row] = store.read("promotions").to_pylist()
    assert row["decision"] == "rejected"
    assert (row["candidate_recall"], row["previous_recall"]) == (decision.candidate_recall, decision.previous_recall)
    assert row["previous_version"] == 1 and row["max_regression"] == 0.0


def test_a_tolerance_that_covers_the_loss_promotes(
    regression: tuple[Path, Promotion], fast_config: ExperimentConfig, setup: StepState, synthetic_data: ProtocolData
) -> None:
    root, rejected = regression
    new, old = rejected.decisions[0].candidate_recall, rejected.decisions[0].previous_recall
    assert new is not None and old is not None
    before, after = {GLOBAL_ADAPTER: 1}, {GLOBAL_ADAPTER: 2}
    covered = guard(root, fast_config, setup, synthetic_data, before, after, max_regression=old - new + 1e-9)
    assert covered.live == {GLOBAL_ADAPTER: 2}
    assert [d.decision for d in covered.decisions] == [PROMOTED]
    short = guard(root, fast_config, setup, synthetic_data, before, after, max_regression=old - new - 1e-3)
    assert short.live == {GLOBAL_ADAPTER: 1}


def test_a_rejected_global_version_takes_the_slice_s_region_versions_with_it(
    tmp_path: Path,
    fast_config: ExperimentConfig,
    setup: StepState,
    synthetic_data: ProtocolData,
    zero_delta: Weights,
    damaged: Weights,
) -> None:
    registry = AdapterRegistry(tmp_path)
    publish(registry, GLOBAL_ADAPTER, 1, zero_delta)
    publish(registry, GLOBAL_ADAPTER, 2, damaged, parent=1)
    region = region_adapter(int(setup.bank.ids[0]))
    publish(registry, region, 2, zero_delta)
    promotion = guard(tmp_path, fast_config, setup, synthetic_data, {GLOBAL_ADAPTER: 1}, {GLOBAL_ADAPTER: 2, region: 2})
    assert promotion.live == {GLOBAL_ADAPTER: 1}, "the new region version never served without its global version"
    by_adapter = {d.adapter: d for d in promotion.decisions}
    assert by_adapter[region].decision == REJECTED
    assert by_adapter[region].reason.startswith("global version 2 was rejected")
    assert by_adapter[region].candidate_recall is None, "it is rejected unscored"


def test_a_baseline_is_judged_against_the_set_up_model_before_its_first_version(
    tmp_path: Path,
    fast_config: ExperimentConfig,
    setup: StepState,
    synthetic_data: ProtocolData,
    zero_delta: Weights,
    damaged: Weights,
) -> None:
    registry = AdapterRegistry(tmp_path)
    lora = baseline_adapter("lora")
    publish(registry, lora, 1, damaged)
    rejected = guard(tmp_path, fast_config, setup, synthetic_data, {}, {lora: 1})
    assert rejected.live == {}
    [decision] = rejected.decisions
    assert (decision.method, decision.previous_version, decision.decision) == ("lora", None, REJECTED)
    assert decision.reason.endswith("(before: the Set-up model)")
    publish(registry, lora, 2, zero_delta)
    tie = guard(tmp_path, fast_config, setup, synthetic_data, {}, {lora: 2})
    assert tie.live == {lora: 2}, "a tie with the Set-up model promotes: the version has seen newer data"
    assert tie.decisions[0].candidate_recall == tie.decisions[0].previous_recall


def test_unchanged_versions_are_not_judged(
    regression: tuple[Path, Promotion], fast_config: ExperimentConfig, setup: StepState, synthetic_data: ProtocolData
) -> None:
    root, _ = regression
    kept = guard(root, fast_config, setup, synthetic_data, {GLOBAL_ADAPTER: 2}, {GLOBAL_ADAPTER: 2})
    assert kept == Promotion({GLOBAL_ADAPTER: 2}, [])


def test_max_regression_outside_0_1_names_the_field_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"'promotion\.max_regression': 1\.5 outside \[0, 1\].*fix: use"):
        from_dict(ExperimentConfig, {"promotion": {"max_regression": 1.5}})
    with pytest.raises(ConfigError, match="max_regression"):
        PromotionConfig(-0.01)
    assert ExperimentConfig().promotion.max_regression == 0.0


def test_the_store_accepts_every_decision_the_guard_and_rollback_make() -> None:
    assert frozenset({PROMOTED, REJECTED, ROLLED_BACK}) == PROMOTION_DECISIONS


@pytest.fixture
def committed(tmp_path: Path, zero_delta: Weights, damaged: Weights) -> Artifacts:
    """Three slices closed; global versions 1 and 2, version 2 live."""
    artifacts = Artifacts.in_store(tmp_path)
    publish(artifacts.registry, GLOBAL_ADAPTER, 1, zero_delta)
    publish(artifacts.registry, GLOBAL_ADAPTER, 2, damaged, parent=1)
    atomic_write_json(artifacts.root / STATE_FILE, {"closed_slices": 3, "live": {GLOBAL_ADAPTER: 2}})
    return artifacts


def test_rollback_rewrites_the_commit_point(committed: Artifacts) -> None:
    assert committed.rollback(GLOBAL_ADAPTER, 1) == 2
    assert json.loads((committed.root / STATE_FILE).read_text()) == {"closed_slices": 3, "live": {GLOBAL_ADAPTER: 1}}


def test_rollback_refuses_what_does_not_exist_and_names_what_does(committed: Artifacts) -> None:
    with pytest.raises(RaieError, match=r"no committed version 7 \(3 slices closed\); its versions: 1, 2"):
        committed.rollback(GLOBAL_ADAPTER, 7)
    with pytest.raises(RaieError, match=r"no adapter 'region_9'.*adapters: global"):
        committed.rollback("region_9", 1)
    publish(committed.registry, GLOBAL_ADAPTER, 3, {"x": torch.zeros(1)})  # a slice still training
    with pytest.raises(RaieError, match="no committed version 3"):
        committed.rollback(GLOBAL_ADAPTER, 3)
    weights = committed.registry.get(GLOBAL_ADAPTER, 1).weights_path
    weights.write_bytes(weights.read_bytes() + b"tampered")
    with pytest.raises(RaieError, match="does not match its manifest"):
        committed.rollback(GLOBAL_ADAPTER, 1)
    assert committed.load_live() == {GLOBAL_ADAPTER: 2}, "a refused rollback changes nothing"


def test_a_commit_keeps_a_rollback_that_landed_while_its_slice_trained(committed: Artifacts, setup: StepState) -> None:
    committed.rollback(GLOBAL_ADAPTER, 1)
    trained = SessionState(ItemVocabulary(()), dataclasses.replace(setup, closed_slices=4, live={GLOBAL_ADAPTER: 3}))
    state = committed.commit(trained, started_from={GLOBAL_ADAPTER: 2})
    assert state.live == {GLOBAL_ADAPTER: 1} == committed.load_live()
    assert committed.closed_slices() == 4


@dataclasses.dataclass
class RollingBackSession(SliceSession):
    """An operator runs ``raie adapters rollback`` right after slice 2 commits."""

    rolled_back_from: int | None = None

    async def commit(self, outcome: SliceOutcome) -> None:
        await super().commit(outcome)
        if outcome.slice == 2:
            self.rolled_back_from = self.artifacts.rollback(GLOBAL_ADAPTER, 1)


def test_the_session_continues_from_a_rollback(
    synthetic_yelp_dir: Path, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    four_slices = dataclasses.replace(fast_config.protocol, cutoffs=(0.4, 0.6, 0.8))
    config = dataclasses.replace(fast_config, protocol=four_slices)
    dataset = load_dataset("yelp", synthetic_yelp_dir)
    data = build_protocol(preprocess(dataset.interactions, config.preprocess), config.protocol, dataset.items)
    artifacts = Artifacts.in_store(tmp_path)
    session = RollingBackSession(config, "sasrec", 0, 1, InProcessTrainer(CPU), artifacts, CPU)
    started = time.perf_counter()
    closed = [c.outcome for c in feed_session(data, session, EMBED_BATCH)]
    assert [o.slice for o in closed] == [0, 1, 2, 3], f"{time.perf_counter() - started:.0f} s"
    assert session.rolled_back_from == 2, "slice 2's global version served before the rollback"
    last = closed[3].result
    assert last is not None
    assert last.before.live[GLOBAL_ADAPTER] == 1, "slice 3 continued from the rolled-back version"
    assert artifacts.registry.get(GLOBAL_ADAPTER, 3).manifest.parent_version == 1
    [decision] = [d for d in last.training.decisions if d.adapter == GLOBAL_ADAPTER]
    assert artifacts.load_live()[GLOBAL_ADAPTER] == (3 if decision.promoted else 1), "version 2 stays undone"
    [row] = [r for r in closed[3].own_rows["promotions"] if r["adapter"] == GLOBAL_ADAPTER]
    assert (row["candidate_version"], row["previous_version"]) == (3, 1)
