"""The slice session (the stream's single writer, without Kafka) builds the offline runner's bank."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from raie.config import ExperimentConfig
from raie.experiment import train_setup_model
from raie.online.artifacts import Artifacts
from raie.online.candidates import Candidate
from raie.online.session import SliceOutcome, SliceSession
from raie.online.trainer import InProcessTrainer
from raie.online.user_state import UserState, next_window
from raie.protocol.blocks import ProtocolData
from raie.recording import MemoryRecorder
from raie.regions.router import represent
from raie.strategies import StrategyContext, build_strategy

pytestmark = pytest.mark.unit

CPU = torch.device("cpu")
EMBED_BATCH = 7
"""Deliberately unlike the offline batch, as the stream's batches are."""


def replay_session(data: ProtocolData, config: ExperimentConfig, root: Path) -> list[SliceOutcome]:
    """What the stream does with the timeline: window per event, embed, close at slice boundaries."""
    p = data.positives
    order = sorted(range(len(p)), key=lambda r: (int(p.ts[r]), p.user_ids[p.user[r]], p.item_ids[p.item[r] - 1]))
    catalogue = pa.table({"item_id": p.item_ids, "title": p.item_ids, "categories": [None] * p.n_items})
    session = SliceSession(config, "sasrec", 0, 1, InProcessTrainer(CPU), Artifacts(root), CPU)
    users: dict[str, UserState] = {}
    outcomes: list[SliceOutcome] = []
    waiting: list[Candidate] = []

    def flush() -> None:
        for start in range(0, len(waiting), EMBED_BATCH):
            batch = waiting[start : start + EMBED_BATCH]
            assert session.state is not None
            context = np.stack([session.state.vocabulary.encode(c.context) for c in batch])
            reps = represent(session.state.setup_model, torch.from_numpy(context))
            for candidate, rep in zip(batch, reps, strict=True):
                session.add(Candidate(**{**candidate.__dict__, "embedding": rep}))
        waiting.clear()

    def close_through(slice_index: int) -> None:
        flush()
        for ready in session.mark(slice_index, partition=0):
            outcome = asyncio.run(session.close(ready, catalogue))
            asyncio.run(session.commit(outcome))
            outcomes.append(outcome)

    current = 0
    for row in order:
        slice_index = int(data.block_of_row[row])
        while current < slice_index:
            close_through(current)
            current += 1
        user = p.user_ids[p.user[row]]
        users[user], candidate = next_window(
            users.get(user), user, p.item_ids[p.item[row] - 1], int(p.ts[row]) * 1000, slice_index, 5
        )
        if candidate is not None and session.state is None:
            session.add(candidate)  # slice 0 has no Set-up model to embed with yet
        elif candidate is not None:
            waiting.append(candidate)
    close_through(current)
    return outcomes


def test_stream_session_builds_the_offline_bank(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    recorder = MemoryRecorder()
    setup_model = train_setup_model("sasrec", fast_config, synthetic_data, 0, CPU)
    build_strategy("raie").update(setup_model, StrategyContext(fast_config, synthetic_data, CPU, 0, recorder))
    offline_after = [r for r in recorder.tables["regions"] if r["stage"] == "after"]
    offline_ops = {(r["region_id"], r["op"]): r["count"] for r in recorder.tables["edits"]}

    outcomes = replay_session(synthetic_data, fast_config, tmp_path)

    assert [o.slice for o in outcomes] == [0, 1, 2]
    update = outcomes[1]
    stream_after = [r for r in update.rows["regions"] if r["stage"] == "after"]
    assert [r["region_id"] for r in stream_after] == [r["region_id"] for r in offline_after]
    for mine, theirs in zip(stream_after, offline_after, strict=True):
        np.testing.assert_allclose(mine["centre"], theirs["centre"], atol=1e-5)
        assert mine["count"] == theirs["count"]
    assert offline_ops, "the drifting data must make the editor act"
    assert {(r["region_id"], r["op"]): r["count"] for r in update.rows["edits"]} == offline_ops
    assert update.train_windows == len(synthetic_data.block("F").train)
    assert outcomes[0].train_windows == len(synthetic_data.block("S").train)


def test_a_resumed_session_continues_from_its_artifacts(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    outcomes = replay_session(synthetic_data, fast_config, tmp_path)
    resumed = SliceSession.resume(fast_config, "sasrec", 0, 1, InProcessTrainer(CPU), Artifacts(tmp_path), CPU)
    assert resumed.closed_slices == 3
    assert resumed.state is not None
    np.testing.assert_array_equal(resumed.state.bank.centres, outcomes[-1].bank.centres)
    assert resumed.state.model is not None
    assert set(resumed.state.model.peft_config) >= {"global"}
    # A window of a closed slice (a re-delivery after a restart) is ignored.
    assert not resumed.add(Candidate("u", 1, 9, ("a",), "b", 0, None))


def test_a_slice_written_but_not_committed_is_closed_again_after_a_restart(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    outcomes = replay_session(synthetic_data, fast_config, tmp_path)
    artifacts = Artifacts(tmp_path)
    # A crash after the next slice's files but before its rows were stored and it was committed.
    artifacts.write_slice(3, replace(outcomes[-1].state, closed_slices=4))
    assert artifacts.closed_slices() == 3
    resumed = SliceSession.resume(fast_config, "sasrec", 0, 1, InProcessTrainer(CPU), artifacts, CPU)
    assert resumed.closed_slices == 3
    assert resumed.add(Candidate("u", 3, 9, ("a",), "b", 0, None))
