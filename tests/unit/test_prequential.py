"""Prequential evaluation on the stream's session reproduces the offline runner's T scores, baselines included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raie.config import ExperimentConfig
from raie.errors import ConfigError
from raie.experiment import ExperimentRequest, run_experiment
from raie.online.prequential import SCORED_METHODS, check_methods
from raie.protocol.blocks import ProtocolData
from tests.online_replay import replay_session

pytestmark = pytest.mark.unit

T_SLICE = 2
"""With cutoffs 0.5/0.8 the stream's slices are S, F and T."""


def test_slice_2_scores_are_the_offline_t_scores_and_every_window_is_recorded(
    synthetic_data: ProtocolData, synthetic_yelp_dir: Path, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    assert fast_config.protocol.cutoffs == (0.5, 0.8)
    request = ExperimentRequest(
        "yelp", synthetic_yelp_dir, "sasrec", SCORED_METHODS, (0,), tmp_path / "offline", fast_config
    )
    offline = run_experiment(request, synthetic_data)
    outcomes = replay_session(synthetic_data, fast_config, tmp_path / "stream", SCORED_METHODS)

    t_windows = len(synthetic_data.block("T").eval)
    for method in SCORED_METHODS:
        stream = outcomes[T_SLICE].rows[method]
        scored = [r for r in stream["windows"] if r["role"] == "eval"]
        # Same Set-up model, bank and adapter weights, same windows in the same batches: the same ranks.
        np.testing.assert_array_equal([r["rank"] for r in scored], offline.rankings[(method, 0, "T")].ranks)
        expected = {
            (r["metric"], r["k"], r["average"]): r["value"]
            for r in offline.results.to_pylist()
            if r["method"] == method and r["split"] == "T"
        }
        assert {(r["metric"], r["k"], r["average"]): r["value"] for r in stream["metrics"]} == expected
        assert {r["n"] for r in stream["metrics"]} == {t_windows}

    # Slice 1 is scored before any adapter exists: every method is the Set-up model.
    first = [[r["rank"] for r in outcomes[1].rows[m]["windows"] if r["role"] == "eval"] for m in SCORED_METHODS]
    assert all(ranks == first[0] for ranks in first)
    assert len(first[0]) == len(synthetic_data.block("F").eval)
    # Each trained baseline published its own adapter per update slice, continuing the previous version.
    for method in ("lora", "replay", "lwf"):
        versions = [(r["version"], r["parent_version"]) for o in outcomes[1:] for r in o.rows[method]["adapters"]]
        assert versions == [(1, None), (2, 1)], method

    own = outcomes[1].own_rows["windows"]
    trained = [r for r in own if r["role"] == "train"]
    assert len(trained) == len(synthetic_data.block("F").train)
    assert {r["op"] for r in trained} <= {"update", "expand", "add"}
    ops = {op: sum(r["op"] == op for r in trained) for op in ("update", "expand", "add")}
    edits = {op: sum(r["count"] for r in outcomes[1].own_rows["edits"] if r["op"] == op) for op in ops}
    assert ops == edits, "each edited window's op is the one the edit counts add up"
    setup = outcomes[0].own_rows["windows"]
    assert len(setup) == len(synthetic_data.block("S").train)
    assert all(r["op"] is None and r["region_id"] >= 0 for r in setup)


def test_stream_methods_must_include_raie_and_be_known() -> None:
    assert check_methods(("raie", "base")) == ("raie", "base")
    with pytest.raises(ConfigError, match="score_methods"):
        check_methods(("base",))
    with pytest.raises(ConfigError, match="mole"):
        check_methods(("raie", "mole"))
