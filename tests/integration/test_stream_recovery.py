"""The stream through a real broker builds the offline runner's bank, and a kill -9 changes nothing.

Each run gets a fresh broker: the comparison needs every message on the
topics to be this run's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from raie.config import ExperimentConfig, save_config
from raie.experiment import train_setup_model
from raie.protocol.blocks import ProtocolData
from raie.recording import MemoryRecorder
from raie.strategies import StrategyContext, build_strategy
from tests.integration.broker import FRESH
from tests.integration.stream_run import StreamResult, StreamRun

pytestmark = pytest.mark.integration

SLICES = 3
"""The protocol's S, F and T: the synthetic preset's cutoffs 0.5, 0.8."""
CLOSE_WITHIN_S = 600.0
"""Set-up training plus two RAIE updates at the fast config take well under a minute."""
REPLAY_SECONDS = 30.0
"""The crash run replays paced to about this long, so the worker dies in the middle of it."""
CENTRE_TOLERANCE = 1e-5


def _run(root: Path, data_dir: Path, config_path: Path, *, kill: bool, speed: float | None = None) -> StreamResult:
    with FRESH.running_empty() as bootstrap:
        run = StreamRun(bootstrap, "yelp", data_dir, config_path, root)
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


@pytest.fixture(scope="module")
def config_path(fast_config: ExperimentConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_config(fast_config, tmp_path_factory.mktemp("config") / "fast.yaml")


@pytest.fixture(scope="module")
def undisturbed(synthetic_yelp_dir: Path, config_path: Path, tmp_path_factory: pytest.TempPathFactory) -> StreamResult:
    return _run(tmp_path_factory.mktemp("undisturbed"), synthetic_yelp_dir, config_path, kill=False)


def test_the_stream_builds_the_offline_bank(
    undisturbed: StreamResult, synthetic_data: ProtocolData, fast_config: ExperimentConfig
) -> None:
    recorder = MemoryRecorder()
    cpu = torch.device("cpu")
    setup_model = train_setup_model("sasrec", fast_config, synthetic_data, 0, cpu)
    build_strategy("raie").update(setup_model, StrategyContext(fast_config, synthetic_data, cpu, 0, recorder))
    offline = [r for r in recorder.tables["regions"] if r["stage"] == "after"]
    offline_ops = {(r["region_id"], r["op"]): r["count"] for r in recorder.tables["edits"]}

    assert len(undisturbed.interactions) == len(synthetic_data.positives.ts)
    stream = undisturbed.regions[1]  # the F slice: the update the offline runner makes
    assert [(region, count) for region, count, _ in stream] == [(r["region_id"], r["count"]) for r in offline]
    for (_, _, centre), theirs in zip(stream, offline, strict=True):
        np.testing.assert_allclose(centre, theirs["centre"], atol=CENTRE_TOLERANCE)
    assert offline_ops, "the drifting data must make the editor act"
    assert undisturbed.edits[1] == offline_ops


def test_a_killed_worker_resumes_to_the_same_store_and_bank(
    undisturbed: StreamResult, synthetic_yelp_dir: Path, synthetic_data: ProtocolData, config_path: Path, tmp_path: Path
) -> None:
    ts = synthetic_data.positives.ts
    speed = float(ts.max() - ts.min()) / REPLAY_SECONDS  # event-time seconds per wall second
    crashed = _run(tmp_path, synthetic_yelp_dir, config_path, kill=True, speed=speed)

    assert crashed.interactions == undisturbed.interactions
    assert crashed.edits == undisturbed.edits
    assert crashed.regions.keys() == undisturbed.regions.keys()
    for slice_index, regions in undisturbed.regions.items():
        assert [r[:2] for r in crashed.regions[slice_index]] == [r[:2] for r in regions]
        for mine, theirs in zip(crashed.regions[slice_index], regions, strict=True):
            np.testing.assert_allclose(mine[2], theirs[2], atol=CENTRE_TOLERANCE)
    np.testing.assert_array_equal(crashed.bank.ids, undisturbed.bank.ids)
    np.testing.assert_array_equal(crashed.bank.count, undisturbed.bank.count)
    np.testing.assert_allclose(crashed.bank.centres, undisturbed.bank.centres, atol=CENTRE_TOLERANCE)
