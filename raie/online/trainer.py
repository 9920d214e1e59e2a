"""The trainer interface the slice session dispatches to, and its in-process implementation.

The Ray pool (workers/) implements the same protocol; until a pool is
configured the stream trains in a worker thread of its own process, so the
event loop keeps consuming while a slice trains.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import torch
from peft import PeftModel

from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import with_lora
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.experiment import train_setup_on
from raie.protocol.windows import Windows
from raie.regions.bank import RegionBank
from raie.regions.editor import SliceEdits
from raie.strategies.raie import OwnedWindows, train_global_adapter, train_region_adapters
from raie.strategies.region_training import TrainJob


@dataclass(frozen=True)
class SetupJob:
    """Train the Set-up backbone on slice 0."""

    backbone: str
    config: ExperimentConfig
    catalog: Catalog
    train: Windows
    valid: Windows
    seed: int


@dataclass(frozen=True)
class SliceJob:
    """RAIE's adapters after one slice's edits: the global one, then every changed region's."""

    slice: int
    config: ExperimentConfig
    setup_model: SequentialRecommender
    model: PeftModel | None  # the adapters so far; None before the first update
    bank: RegionBank
    edits: SliceEdits
    new: OwnedWindows
    old: OwnedWindows
    valid: OwnedWindows
    seed: int


@dataclass(frozen=True)
class SliceTraining:
    model: PeftModel
    adapters: dict[int, str]  # region id -> adapter name
    jobs: list[TrainJob]


class AdapterTrainer(Protocol):
    async def train_setup(self, job: SetupJob) -> SequentialRecommender: ...

    async def train_slice(self, job: SliceJob) -> SliceTraining: ...


@dataclass(frozen=True)
class InProcessTrainer:
    """Runs the offline runner's training functions in the default executor."""

    device: torch.device

    async def train_setup(self, job: SetupJob) -> SequentialRecommender:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._setup, job)

    async def train_slice(self, job: SliceJob) -> SliceTraining:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._slice, job)

    def _setup(self, job: SetupJob) -> SequentialRecommender:
        return train_setup_on(job.backbone, job.config, job.catalog, job.train, job.valid, job.seed, self.device)

    def _slice(self, job: SliceJob) -> SliceTraining:
        model = job.model if job.model is not None else with_lora(job.setup_model, job.config.lora).to(self.device)
        first = train_global_adapter(model, job.new, job.old, job.valid.windows, job.config, self.device, job.seed)
        adapters, jobs = train_region_adapters(
            model, job.bank, job.edits, job.new, job.old, job.valid, job.config, self.device, job.seed
        )
        return SliceTraining(model, adapters, [first, *jobs])
