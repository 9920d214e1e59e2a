"""Adapter jobs from the stream: a forced failure is retried, reported, and leaves the previous version live;
a trained baseline scored beside RAIE runs its own jobs on the same pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from raie.adapters import AdapterRegistry
from raie.config import ExperimentConfig
from raie.config_files import save_config
from raie.store import Store
from tests.integration.stream_run import run_stream

pytestmark = pytest.mark.integration


def test_a_job_that_keeps_failing_leaves_its_previous_version_live(
    synthetic_yelp_dir: Path, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    config_path = save_config(fast_config, tmp_path / "fast.yaml")
    # Slice 2's global job fails both attempts; slice 1's region_1 job fails once, then succeeds.
    failures = ("--inject-failure", "2/global:9", "--inject-failure", "1/region_1:1", "--job-retries", "1")
    options = (*failures, "--score-methods", "raie,base,lora,hybrid")
    result = run_stream(tmp_path, synthetic_yelp_dir, config_path, kill=False, worker_options=options)

    global_steps = [(status, attempt) for job, status, attempt in result.job_steps if job == "2/global"]
    assert global_steps == [("queued", 0), ("started", 1), ("retrying", 1), ("started", 2), ("failed", 2)]
    assert result.live["global"] == 1, "slice 1's global adapter still serves"
    assert ("global", 2) not in result.adapters and ("global", 1) in result.adapters
    registry = AdapterRegistry(tmp_path / "store" / "adapters")
    assert registry.versions("global") == [1], "the failed job published nothing"

    region_steps = [(status, attempt) for job, status, attempt in result.job_steps if job == "1/region_1"]
    assert region_steps == [("queued", 0), ("started", 1), ("retrying", 1), ("started", 2), ("finished", 2)]
    # Slice 2's region jobs started from the global version that was live: 1.
    assert registry.get("region_1", 2).manifest.parent_adapter == "global"
    assert registry.get("region_1", 2).manifest.parent_version == 1
    for (adapter, version), sha256 in result.adapters.items():  # everything published is whole and verified
        assert registry.get(adapter, version).manifest.sha256 == sha256
        assert registry.load_weights(adapter, version)

    # The LoRA baseline trained its own adapter on each update slice, unaffected by RAIE's failure.
    assert registry.versions("baseline_lora") == [1, 2]
    assert registry.get("baseline_lora", 2).manifest.parent_version == 1
    assert result.live["baseline_lora"] == 2
    methods = ("raie", "base", "lora", "hybrid")
    assert {(m, s) for m, s in result.recall10} == {(m, s) for m in methods for s in (1, 2)}

    # The hybrid fine-tunes on slice 1 only (finetune_every 2) and serves that version, with the
    # retrieval weight its fine-tune chose, on slice 2.
    assert registry.versions("baseline_hybrid") == [1]
    assert "retrieval_weight" in registry.get("baseline_hybrid", 1).manifest.metrics
    with Store.open(tmp_path / "store", read_only=True) as store:
        costs = store.query(
            "SELECT method, slice, train_jobs, trained_parameters, scoring_ms_per_window FROM method_costs"
        )
    cost = {(r["method"], r["slice"]): r for r in costs.to_pylist()}
    assert set(cost) == {(m, s) for m in methods for s in (1, 2)}
    assert cost[("hybrid", 1)]["train_jobs"] == 1 and cost[("hybrid", 2)]["train_jobs"] == 0
    assert cost[("hybrid", 1)]["trained_parameters"] == cost[("lora", 1)]["trained_parameters"] > 0
    assert cost[("base", 2)]["trained_parameters"] == 0
    assert all(r["scoring_ms_per_window"] > 0 for r in cost.values())
