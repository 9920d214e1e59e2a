"""A Ray actor that runs adapter jobs and keeps the frozen Set-up backbone loaded between them.

Loading the backbone costs more than a small region's training, so each
actor loads it from the store once and reloads only when the store's Set-up
file changes (a new store, or a Set-up re-run after a crash).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import ray
import torch

from raie.backbones.base import SequentialRecommender
from raie.config import ExperimentConfig
from raie.online.adapter_job import AdapterJob, AdapterJobResult, run_adapter_job
from raie.online.artifacts import Artifacts


class InjectedFailure(RuntimeError):
    """Raised on purpose (``--inject-failure``) to exercise retries and failure reporting."""


@dataclass(frozen=True)
class SetupSource:
    """Where the actor finds the frozen backbone: the store's artifacts."""

    artifacts: Artifacts
    backbone: str
    config: ExperimentConfig

    def stamp(self) -> tuple[int, int]:
        stat = (self.artifacts.setup_dir() / "model.safetensors").stat()
        return stat.st_mtime_ns, stat.st_size


@ray.remote
class AdapterJobActor:
    def __init__(self, source: SetupSource) -> None:
        self.source = source
        self.device = torch.device("cuda") if ray.get_gpu_ids() else torch.device("cpu")
        self.loaded: tuple[tuple[int, int], SequentialRecommender] | None = None

    def pid(self) -> int:
        return os.getpid()

    def warm_up(self) -> None:
        self._setup_model()

    def run(self, job: AdapterJob, fail: bool, threads: int) -> AdapterJobResult:
        if fail:
            raise InjectedFailure(f"job {job.job_id} failed on purpose (--inject-failure {job.adapter})")
        torch.set_num_threads(threads)
        return run_adapter_job(job, self._setup_model(), self.device)

    def _setup_model(self) -> SequentialRecommender:
        stamp = self.source.stamp()
        if self.loaded is None or self.loaded[0] != stamp:
            _, model = self.source.artifacts.load_setup(self.source.backbone, self.source.config, self.device)
            self.loaded = (stamp, model)
        return self.loaded[1]
