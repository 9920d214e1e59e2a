"""One adapter training job: what a worker (a thread here, a Ray actor in ``workers/``) runs.

A job reads the slice's training input from the store, starts one LoRA
adapter on the frozen Set-up backbone from a published version (or fresh),
trains it exactly as the offline runner trains that adapter, and publishes
the result to the adapter registry. Everything it needs travels as paths and
numbers, so a job runs the same in this process, in a Ray worker on this
machine, or on a cluster node that mounts the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.numpy
import torch
from peft import get_peft_model_state_dict, set_peft_model_state_dict

from raie.adapters import AdapterManifest, AdapterRegistry, PublishedAdapter
from raie.adapters.registry import TRAINED_PARAMETERS
from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import adapted_backbone, add_adapter, with_lora
from raie.config import ExperimentConfig
from raie.protocol.windows import Windows
from raie.regions.router import FALLBACK
from raie.strategies import RAIE
from raie.strategies.global_lora import baseline
from raie.strategies.hybrid import RETRIEVAL_WEIGHT, choose_retrieval_weight
from raie.strategies.raie import OwnedWindows, train_global_adapter, train_region_adapter
from raie.strategies.region_training import TrainJob

INPUT_PARTS = ("new", "old", "valid")
"""The slice's own training windows, the rehearsal history before it, its validation windows."""


@dataclass(frozen=True)
class JobInput:
    """A slice's training data for all its jobs: windows with their owning region, and the bank's centres."""

    new: OwnedWindows
    old: OwnedWindows
    valid: OwnedWindows
    centres: np.ndarray  # [R, H] after the slice's edits
    region_ids: np.ndarray  # [R]

    def save(self, path: Path) -> None:
        arrays = {"centres": self.centres, "region_ids": self.region_ids}
        for part in INPUT_PARTS:
            owned: OwnedWindows = getattr(self, part)
            w = owned.windows
            arrays |= {f"{part}.user": w.user, f"{part}.context": w.context, f"{part}.target": w.target}
            arrays |= {f"{part}.ts": w.ts, f"{part}.owner": owned.owner}
        path.parent.mkdir(parents=True, exist_ok=True)
        safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))

    @classmethod
    def load(cls, path: Path) -> JobInput:
        a = safetensors.numpy.load_file(str(path))
        parts = {
            part: OwnedWindows(
                Windows(a[f"{part}.user"], a[f"{part}.context"], a[f"{part}.target"], a[f"{part}.ts"]),
                a[f"{part}.owner"],
            )
            for part in INPUT_PARTS
        }
        return cls(parts["new"], parts["old"], parts["valid"], a["centres"], a["region_ids"])


@dataclass(frozen=True)
class AdapterJob:
    """Train ``adapter`` for ``slice`` and publish it as version ``slice``."""

    slice: int
    adapter: str
    region_id: int  # FALLBACK (-1) for the global adapter
    input_path: Path
    start: tuple[str, int] | None  # (adapter, version) to start from; None = fresh LoRA (zero delta)
    registry_root: Path
    config: ExperimentConfig
    seed: int
    method: str = RAIE
    stacked_on: tuple[str, int] | None = None
    """(adapter, version) active and frozen beneath this one: the global adapter a residual
    region adapter (``regions.init: residual``) trains on and serves on."""
    """Whose adapter: RAIE's (global or a region's), or a trained baseline's (``lora``, ``replay``, ``lwf``),
    which continues its own adapter (``baseline_<method>``) on each slice's windows."""

    @property
    def job_id(self) -> str:
        return f"{self.slice}/{self.adapter}"

    @property
    def is_global(self) -> bool:
        return self.region_id == FALLBACK


@dataclass(frozen=True)
class AdapterJobResult:
    training: TrainJob
    published: PublishedAdapter


def run_adapter_job(job: AdapterJob, setup_model: SequentialRecommender, device: torch.device) -> AdapterJobResult:
    """Train and publish one adapter; ``setup_model`` is not modified (LoRA wraps a copy)."""
    data = JobInput.load(job.input_path)
    registry = AdapterRegistry(job.registry_root)
    # peft draws a fresh adapter's A matrix from torch's global generator: seed it, so that a
    # job re-run (a retry, a slice re-closed after a crash) rebuilds the same version.
    torch.manual_seed(job.seed)
    model = with_lora(setup_model, job.config.lora, adapter=job.adapter).to(device)
    if job.start is not None:
        set_peft_model_state_dict(model, registry.load_weights(*job.start), adapter_name=job.adapter)
    if job.stacked_on is not None:
        beneath = job.stacked_on[0]
        add_adapter(model, beneath, job.config.lora)
        set_peft_model_state_dict(model, registry.load_weights(*job.stacked_on), adapter_name=beneath)
        model.to(device)
    metrics: dict[str, float | None] = {}
    if job.method != RAIE:
        strategy = baseline(job.method)
        training = strategy.train(
            model,
            job.adapter,
            by_user(data.new.windows),
            data.old.windows,
            data.valid.windows,
            job.config,
            device,
            job.seed,
        )
        if strategy.retrieves:
            metrics[RETRIEVAL_WEIGHT], _ = choose_retrieval_weight(
                adapted_backbone(model), setup_model, data.new.windows, data.valid.windows, job.config, device
            )
    elif job.is_global:
        training = train_global_adapter(model, data.new, data.old, data.valid.windows, job.config, device, job.seed)
    else:
        training = train_region_adapter(
            model,
            job.adapter,
            job.region_id,
            data.centres,
            data.region_ids,
            data.new,
            data.old,
            data.valid,
            job.config,
            device,
            job.seed,
            stacked_on=() if job.stacked_on is None else (job.stacked_on[0],),
        )
    weights = get_peft_model_state_dict(model, adapter_name=job.adapter)
    metrics[TRAINED_PARAMETERS] = float(sum(t.numel() for t in weights.values()))
    manifest = AdapterManifest(
        adapter=job.adapter,
        region_id=None if job.region_id == FALLBACK else job.region_id,
        version=job.slice,
        slice=job.slice,
        parent_version=None if job.start is None else job.start[1],
        parent_adapter=None if job.start is None else job.start[0],
        new_windows=training.new_windows,
        old_windows=training.old_windows,
        valid_windows=training.valid_windows,
        metrics={"valid_recall10": training.valid_recall, "seconds": training.seconds} | metrics,
        sha256="",  # the registry fills it in from the written file
        created_at_ms=int(time.time() * 1000),
    )
    return AdapterJobResult(training, registry.publish(manifest, weights))


def by_user(windows: Windows) -> Windows:
    """``windows`` (a slice's, in event-time order) in (user, time) order: the order the offline
    protocol lists a block's windows in, which the baselines' epochs are drawn from."""
    return windows.take(np.lexsort((windows.ts, windows.user)))
