"""Slice 0, Set-up: the frozen backbone, the first regions and the first rehearsal memory.

The offline runner (S) and the stream (slice 0) both train the Set-up model with
:func:`raie.online.setup_model.train_setup_on` and start the slice step from
:func:`initial_state`.
"""

from __future__ import annotations

import numpy as np
import torch

from raie.backbones import SequentialRecommender
from raie.config import ExperimentConfig
from raie.online.memory import RehearsalMemory
from raie.online.state import StepState
from raie.protocol.windows import Windows
from raie.regions.bank import RegionBank
from raie.regions.router import represent_windows
from raie.regions.routing import Routes

SETUP_SLICE = 0


def initial_state(
    setup_model: SequentialRecommender, train: Windows, config: ExperimentConfig, seed: int, device: torch.device
) -> tuple[StepState, Routes]:
    """The state after Set-up: regions by spherical k-means on the frozen representations of
    ``train`` (Set-up's training windows), which also fill the rehearsal memory; with each
    window's route, for the store."""
    cfg = config.regions
    representations = represent_windows(setup_model, train, device)
    bank = RegionBank.build(representations, cfg.regions, quantile=cfg.radius_quantile, seed=seed)
    empty = RehearsalMemory.empty(config.strategy.memory_size, config.protocol.context_len, bank.dim)
    memory = empty.offer(train, representations, seed=memory_seed(seed, SETUP_SLICE))
    routes = bank.route(representations, rule=cfg.confidence, temperature=cfg.temperature)
    return StepState(SETUP_SLICE + 1, setup_model, bank, memory, {}), routes


def memory_seed(seed: int, slice_index: int) -> int:
    """The reservoir's draws for one slice: repeatable, and different for every slice."""
    return int(np.random.SeedSequence([seed, slice_index]).generate_state(1)[0])
