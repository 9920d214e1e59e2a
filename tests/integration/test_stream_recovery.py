"""The stream through a real broker builds the offline runner's bank, and a kill -9 changes nothing.

Each run gets a fresh broker: the comparison needs every message on the
topics to be this run's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from raie.config import ExperimentConfig
from raie.config_files import save_config
from raie.experiment import adapt, train_setup_model
from raie.protocol.blocks import ProtocolData
from tests.integration.stream_run import StreamResult, run_group_stream, run_stream

pytestmark = pytest.mark.integration

REPLAY_SECONDS = 30.0
"""The crash run replays paced to about this long, so the worker dies in the middle of it."""
CENTRE_TOLERANCE = 1e-5
GROUP_REPLAY_SECONDS = 60.0
"""Long enough that Set-up closes, with both workers in the group, while the replay still runs."""


@pytest.fixture(scope="module")
def config_path(fast_config: ExperimentConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_config(fast_config, tmp_path_factory.mktemp("config") / "fast.yaml")


@pytest.fixture(scope="module")
def undisturbed(synthetic_yelp_dir: Path, config_path: Path, tmp_path_factory: pytest.TempPathFactory) -> StreamResult:
    return run_stream(tmp_path_factory.mktemp("undisturbed"), synthetic_yelp_dir, config_path, kill=False)


def test_the_stream_builds_the_offline_bank(
    undisturbed: StreamResult, synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    cpu = torch.device("cpu")
    setup_model = train_setup_model("sasrec", fast_config, synthetic_data, 0, cpu)
    _, tables = adapt("raie", setup_model, synthetic_data, fast_config, 0, tmp_path, cpu)
    offline = [r for r in tables["regions"] if r["stage"] == "after"]
    offline_ops = {(r["region_id"], r["op"]): r["count"] for r in tables["edits"]}

    assert len(undisturbed.interactions) == len(synthetic_data.positives.ts)
    stream = undisturbed.regions[1]  # the F slice: the update the offline runner makes
    assert [(region, count) for region, count, _ in stream] == [(r["region_id"], r["count"]) for r in offline]
    for (_, _, centre), theirs in zip(stream, offline, strict=True):
        np.testing.assert_allclose(centre, theirs["centre"], atol=CENTRE_TOLERANCE)
    assert offline_ops, "the drifting data must make the editor act"
    assert undisturbed.edits[1] == offline_ops
    # Prequential: slices 1 and 2 are scored (the T block's windows in slice 2), for each method.
    for method in ("raie", "raie-wo-kr", "base"):
        assert undisturbed.windows[(method, 2, "eval")] == len(synthetic_data.block("T").eval)
        assert undisturbed.windows[(method, 1, "eval")] == len(synthetic_data.block("F").eval)
        assert {s for m, s in undisturbed.recall10 if m == method} == {1, 2}
    assert undisturbed.windows[("raie", 1, "train")] == len(synthetic_data.block("F").train)
    assert undisturbed.duplicated_windows == 0


def test_a_killed_worker_resumes_to_the_same_store_and_bank(
    undisturbed: StreamResult, synthetic_yelp_dir: Path, synthetic_data: ProtocolData, config_path: Path, tmp_path: Path
) -> None:
    ts = synthetic_data.positives.ts
    speed = float(ts.max() - ts.min()) / REPLAY_SECONDS  # event-time seconds per wall second
    crashed = run_stream(tmp_path, synthetic_yelp_dir, config_path, kill=True, speed=speed)

    assert_same_store_and_bank(crashed, undisturbed)
    # The same adapter versions were published and serve (a slice re-closed after a kill republishes its versions).
    assert crashed.adapters.keys() == undisturbed.adapters.keys()
    assert crashed.live == undisturbed.live
    # Slices closed again after a kill replace their window and metric rows, never add to them.
    assert crashed.windows == undisturbed.windows
    assert crashed.duplicated_windows == 0
    assert crashed.recall10.keys() == undisturbed.recall10.keys()


def test_two_workers_share_the_group_and_the_survivor_of_a_kill_finishes_alone(
    undisturbed: StreamResult, synthetic_yelp_dir: Path, synthetic_data: ProtocolData, config_path: Path, tmp_path: Path
) -> None:
    ts = synthetic_data.positives.ts
    speed = float(ts.max() - ts.min()) / GROUP_REPLAY_SECONDS
    grouped = run_group_stream(tmp_path, synthetic_yelp_dir, config_path, speed=speed)

    assert_same_store_and_bank(grouped, undisturbed)  # every event once, the same edits and bank
    assert grouped.windows == undisturbed.windows
    assert grouped.duplicated_windows == 0


def assert_same_store_and_bank(run: StreamResult, undisturbed: StreamResult) -> None:
    """Interactions, edits, regions and bank as a single undisturbed worker left them."""
    assert run.interactions == undisturbed.interactions
    assert run.edits == undisturbed.edits
    assert run.regions.keys() == undisturbed.regions.keys()
    for slice_index, regions in undisturbed.regions.items():
        assert [r[:2] for r in run.regions[slice_index]] == [r[:2] for r in regions]
        for mine, theirs in zip(run.regions[slice_index], regions, strict=True):
            np.testing.assert_allclose(mine[2], theirs[2], atol=CENTRE_TOLERANCE)
    np.testing.assert_array_equal(run.bank.ids, undisturbed.bank.ids)
    np.testing.assert_array_equal(run.bank.count, undisturbed.bank.count)
    np.testing.assert_allclose(run.bank.centres, undisturbed.bank.centres, atol=CENTRE_TOLERANCE)
