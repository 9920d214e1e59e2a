"""One device per process: the stream's slice step on CUDA when this machine has one (skipped otherwise).

Every batch must reach the model's device: ingress-style representations,
editing, adapter jobs, prequential scoring, and a restart that reloads the
Set-up model. The CPU path runs in every other test; this one is for GPU machines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raie.config import ExperimentConfig
from raie.online.artifacts import Artifacts
from raie.online.in_process import feed_session
from raie.online.session import SliceSession
from raie.online.trainer import InProcessTrainer
from raie.protocol.blocks import ProtocolData
from raie.regions.router import model_device

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


def test_the_stream_slice_step_runs_on_cuda_and_resumes_there(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    cuda = torch.device("cuda")
    artifacts = Artifacts.in_store(tmp_path)
    session = SliceSession(fast_config, "sasrec", 0, 1, InProcessTrainer(cuda), artifacts, cuda)
    outcomes = [closed.outcome for closed in feed_session(synthetic_data, session, embed_batch=7)]
    assert [o.slice for o in outcomes] == [0, 1, 2]
    assert session.state is not None and model_device(session.state.setup_model).type == "cuda"
    t_scores = outcomes[2].rows["raie"]["metrics"]
    assert t_scores and all(0.0 <= r["value"] <= 1.0 for r in t_scores)
    assert outcomes[2].result is not None and outcomes[2].result.training.outcomes, "slice 2 trained on CUDA"
    assert all(o.result is not None for o in outcomes[2].result.training.outcomes)

    resumed = SliceSession.resume(
        fast_config, "sasrec", 0, 1, InProcessTrainer(cuda), Artifacts.in_store(tmp_path), cuda
    )
    assert resumed.state is not None and model_device(resumed.state.setup_model).type == "cuda"
