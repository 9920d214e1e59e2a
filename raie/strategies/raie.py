"""RAIE: Region-Aware Incremental Editing (arXiv 2603.00638), its ablations and its training recipes.

In each update slice (the slice step, raie/online/step.py, runs it):

1. Set-up regions (slice 0): spherical k-means on the frozen Set-up
   representations of its training windows.
2. Editing: the slice's training windows, in time order, Update, Expand or Add regions.
3. A global adapter is trained on the slice, rehearsing each region's old
   windows (the rehearsal memory) in proportion to its share of the new ones.
   It serves low-confidence windows, and every region adapter builds on it.
4. Each edited or new region gets its own adapter, trained on the windows it
   will serve mixed with its old ones, with the overlap penalty. The presets
   make it a residual (``init: residual``): a fresh LoRA trained a fixed number
   of epochs on top of the frozen global adapter, and served stacked on it.
   The slice step's guard promotes the new versions only when the routed model
   does not lose on the slice's validation windows.
5. Inference routes each window with the frozen representation and averages
   its region's log-probabilities with the global adapter's (``blend``).

Ablations switch parts off:

- ``raie-wo-kr`` (no knowledge regions): editing runs, but one adapter (the
  global one of step 3) serves every window.
- ``raie-wo-ke`` (no knowledge editing): regions stay as built at Set-up;
  new windows go to their nearest region; per-region adapters as in RAIE.
- ``raie-wo-all``: neither; one adapter rehearsing by the fixed Set-up regions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from peft import PeftModel

from raie.backbones.lora import GLOBAL_ADAPTER, adapted_backbone
from raie.config import ExperimentConfig
from raie.protocol.windows import Windows
from raie.regions.editor import SliceEdits
from raie.regions.router import FALLBACK
from raie.strategies.base import UpdateStrategy, register_strategy
from raie.strategies.region_training import TrainJob, region_loss, train_adapter
from raie.strategies.rehearsal import rehearsal_epochs, stratified_rehearsal_epochs
from raie.training import cross_entropy

MIN_REGION_VALID = 10
"""A region with fewer validation windows early-stops on all of F's validation
windows instead: a handful of windows cannot rank epochs."""


@dataclass(frozen=True)
class OwnedWindows:
    """Windows with the region that owns each one (nearest after the edits, no fallback)."""

    windows: Windows
    owner: np.ndarray

    def of(self, region_id: int) -> Windows:
        return self.windows.take(np.flatnonzero(self.owner == region_id))


def train_global_adapter(
    model: PeftModel,
    new: OwnedWindows,
    old: OwnedWindows,
    valid: Windows,
    config: ExperimentConfig,
    device: torch.device,
    seed: int,
) -> TrainJob:
    """The global adapter on all new windows, each region rehearsing its own old
    windows in proportion to its share of the new ones; it continues from its current weights."""
    fraction, length = config.strategy.new_data_fraction, config.protocol.context_len
    return train_adapter(
        model,
        GLOBAL_ADAPTER,
        FALLBACK,
        stratified_rehearsal_epochs(new.windows, new.owner, old.windows, old.owner, fraction, length),
        cross_entropy(adapted_backbone(model)),
        len(new.windows),
        valid,
        config,
        device=device,
        seed=seed,
        keep_initial=True,  # no epoch better on validation: keep the previous model
    )


def needs_retraining(region_id: int, edits: SliceEdits, new: OwnedWindows, config: ExperimentConfig) -> bool:
    """Edited or new in this slice, with enough new windows to learn from."""
    return region_id in edits.changed and len(new.of(region_id)) >= config.regions.min_region_size


def train_region_adapter(
    model: PeftModel,
    name: str,
    region_id: int,
    centres: np.ndarray,
    region_ids: np.ndarray,
    new: OwnedWindows,
    old: OwnedWindows,
    valid: OwnedWindows,
    config: ExperimentConfig,
    device: torch.device,
    seed: int,
    stacked_on: tuple[str, ...] = (),
) -> TrainJob:
    """Train adapter ``name`` (already at its starting point) on one region's windows, with the overlap penalty.

    A residual (``stacked_on`` the global adapter) trains a fixed ``regions.epochs``: its
    region's few validation windows cannot rank epochs, so the count is one setting for all
    regions, chosen on the routed model's pooled F.valid; the slice step's guard then keeps
    the previous adapters when the routed model loses to the global one there."""
    cfg = config.regions
    region_new, region_valid = new.of(region_id), valid.of(region_id)
    if len(region_valid) < MIN_REGION_VALID:
        region_valid = valid.windows
    index = int(np.flatnonzero(region_ids == region_id)[0])
    budget = None
    if stacked_on:
        budget = dataclasses.replace(config.finetune_train, epochs=cfg.epochs, patience=0)
    fraction = cfg.new_data_fraction if stacked_on else config.strategy.new_data_fraction
    return train_adapter(
        model,
        name,
        region_id,
        rehearsal_epochs(region_new, old.of(region_id), fraction, config.protocol.context_len),
        region_loss(model, centres, index, cfg.overlap_weight, cfg.overlap_margin),
        len(region_new),
        region_valid,
        config,
        device=device,
        seed=seed + 1 + region_id,
        keep_initial=cfg.init == "global",
        stacked_on=stacked_on,
        train=budget,
    )


@register_strategy("raie")
class RAIE(UpdateStrategy):
    serves = "routed"


@register_strategy("raie-wo-kr")
class WithoutKnowledgeRegions(UpdateStrategy):
    serves = "global"


@register_strategy("raie-wo-ke")
class WithoutKnowledgeEditing(UpdateStrategy):
    serves = "routed"
    editing = False


@register_strategy("raie-wo-all")
class WithoutAll(UpdateStrategy):
    serves = "global"
    editing = False
