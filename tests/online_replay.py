"""The stream's slice session replayed in-process over the synthetic timeline: a store with real artifacts."""

from __future__ import annotations

from pathlib import Path

import torch

from raie.config import ExperimentConfig
from raie.online.artifacts import Artifacts
from raie.online.in_process import feed_session
from raie.online.prequential import DEFAULT_METHODS
from raie.online.session import SliceOutcome, SliceSession
from raie.online.trainer import InProcessTrainer
from raie.protocol.blocks import ProtocolData

CPU = torch.device("cpu")
EMBED_BATCH = 7
"""Deliberately unlike the offline batch, as the stream's batches are."""


def replay_session(
    data: ProtocolData, config: ExperimentConfig, root: Path, methods: tuple[str, ...] = DEFAULT_METHODS
) -> list[SliceOutcome]:
    trainer, artifacts = InProcessTrainer(CPU), Artifacts.in_store(root)
    session = SliceSession(config, "sasrec", 0, 1, trainer, artifacts, CPU, scored_methods=methods)
    return [closed.outcome for closed in feed_session(data, session, EMBED_BATCH)]
