"""The slice session (the stream's single writer, without Kafka) builds the offline runner's bank."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from raie.config import ExperimentConfig
from raie.experiment import adapt, train_setup_model
from raie.online.artifacts import Artifacts
from raie.online.candidates import Candidate
from raie.online.session import SliceSession
from raie.online.trainer import InProcessTrainer
from raie.protocol.blocks import ProtocolData
from tests.online_replay import CPU, replay_session

pytestmark = pytest.mark.unit


def test_stream_session_builds_the_offline_bank(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    setup_model = train_setup_model("sasrec", fast_config, synthetic_data, 0, CPU)
    _, tables = adapt("raie", setup_model, synthetic_data, fast_config, 0, tmp_path / "offline", CPU)
    offline_after = [r for r in tables["regions"] if r["stage"] == "after"]
    offline_ops = {(r["region_id"], r["op"]): r["count"] for r in tables["edits"]}

    outcomes = replay_session(synthetic_data, fast_config, tmp_path / "stream")

    assert [o.slice for o in outcomes] == [0, 1, 2]
    update = outcomes[1]
    stream_after = [r for r in update.own_rows["regions"] if r["stage"] == "after"]
    assert [r["region_id"] for r in stream_after] == [r["region_id"] for r in offline_after]
    for mine, theirs in zip(stream_after, offline_after, strict=True):
        np.testing.assert_allclose(mine["centre"], theirs["centre"], atol=1e-5)
        assert mine["count"] == theirs["count"]
    assert offline_ops, "the drifting data must make the editor act"
    assert {(r["region_id"], r["op"]): r["count"] for r in update.own_rows["edits"]} == offline_ops
    assert update.train_windows == len(synthetic_data.block("F").train)
    assert outcomes[0].train_windows == len(synthetic_data.block("S").train)


def test_a_resumed_session_continues_from_its_artifacts(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    outcomes = replay_session(synthetic_data, fast_config, tmp_path)
    resumed = SliceSession.resume(fast_config, "sasrec", 0, 1, InProcessTrainer(CPU), Artifacts.in_store(tmp_path), CPU)
    assert resumed.closed_slices == 3
    assert resumed.state is not None
    np.testing.assert_array_equal(resumed.state.bank.centres, outcomes[-1].bank.centres)
    assert resumed.state.live == outcomes[-1].state.live
    assert "global" in resumed.state.live, "every update slice trains the global adapter"
    registry = resumed.artifacts.registry
    for adapter, version in resumed.state.live.items():
        assert registry.get(adapter, version).manifest.slice == version
        assert registry.load_weights(adapter, version), f"{adapter} v{version} has no tensors"
    # A window of a closed slice (a re-delivery after a restart) is ignored.
    assert not resumed.add(Candidate("u", 1, 9, ("a",), "b", 0, None))


def test_a_slice_written_but_not_committed_is_closed_again_after_a_restart(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    outcomes = replay_session(synthetic_data, fast_config, tmp_path)
    artifacts = Artifacts.in_store(tmp_path)
    # A crash after the next slice's files but before its rows were stored and it was committed.
    last = outcomes[-1].state
    artifacts.write_slice(3, replace(last, step=replace(last.step, closed_slices=4)))
    assert artifacts.closed_slices() == 3
    resumed = SliceSession.resume(fast_config, "sasrec", 0, 1, InProcessTrainer(CPU), artifacts, CPU)
    assert resumed.closed_slices == 3
    assert resumed.add(Candidate("u", 3, 9, ("a",), "b", 0, None))
