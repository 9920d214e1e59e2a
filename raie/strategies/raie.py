"""RAIE: Region-Aware Incremental Editing (arXiv 2603.00638) and its ablations.

For one update slice (the Fine-tune block F):

1. Set-up regions: spherical k-means on the frozen Set-up representations
   of S's training windows.
2. Editing: F's windows, in time order, Update, Expand or Add regions.
3. A global adapter is trained on F, rehearsing each region's S windows in
   proportion to its share of F. It serves low-confidence windows and is the
   starting point of the region adapters (``init: global``).
4. Each edited or new region gets its own adapter, trained on its F windows
   mixed with its S windows, with the overlap penalty, and early-stopped on
   its part of F's validation windows (the starting point competes too).
5. Inference routes each window with the frozen representation.

Ablations switch parts off:

- ``raie-wo-kr`` (no knowledge regions): editing runs, but one adapter (the
  global one of step 3) serves every window.
- ``raie-wo-ke`` (no knowledge editing): regions stay as built on S; F's
  windows go to their nearest region; per-region adapters as in RAIE.
- ``raie-wo-all``: neither; one adapter rehearsing S by the fixed Set-up regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from peft import PeftModel

from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, adapted_backbone, add_adapter, copy_adapter, with_lora
from raie.config import ExperimentConfig
from raie.protocol.windows import Windows
from raie.recording import Row
from raie.regions.bank import RegionBank
from raie.regions.editor import RegionEditor, SliceEdits
from raie.regions.router import FALLBACK, Router, represent_windows
from raie.strategies.base import StrategyContext, UpdateStrategy, register_strategy
from raie.strategies.region_training import TrainJob, region_loss, train_adapter
from raie.strategies.rehearsal import rehearsal_epochs, stratified_rehearsal_epochs
from raie.strategies.routed import RoutedRecommender, region_adapter
from raie.training import cross_entropy

UPDATE_SLICE = 1
"""The offline protocol has one update slice, F; slice 0 is Set-up."""

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


class _RegionAware(UpdateStrategy):
    per_region = True
    editing = True

    def update(self, setup_model: SequentialRecommender, context: StrategyContext) -> SequentialRecommender:
        cfg, device = context.config.regions, context.device
        setup, fine_tune = context.data.block("S"), context.data.block("F")
        s_rep = represent_windows(setup_model, setup.train, device)
        bank = RegionBank.build(s_rep, cfg.regions, quantile=cfg.radius_quantile, seed=context.seed)
        router = Router(setup_model, bank, cfg)
        before = router.bank.copy()

        in_time_order = fine_tune.train.take(np.argsort(fine_tune.train.ts, kind="stable"))
        f_rep = router.represent_windows(in_time_order, device)
        edits = self._edit(router, f_rep, context)
        self._record_regions(context, before, router.bank, edits)

        new = OwnedWindows(in_time_order, router.nearest(f_rep))
        old = OwnedWindows(setup.train, router.nearest(s_rep))
        valid = OwnedWindows(fine_tune.valid, router.nearest(router.represent_windows(fine_tune.valid, device)))
        model = with_lora(setup_model, context.config.lora).to(device)
        job = train_global_adapter(model, new, old, valid.windows, context.config, device, context.seed)
        if not self.per_region:
            context.recorder.record("train_jobs", [job.row(UPDATE_SLICE)])
            return adapted_backbone(model)
        adapters, region_jobs = train_region_adapters(
            model, router.bank, edits, new, old, valid, context.config, device, context.seed
        )
        context.recorder.record("train_jobs", [j.row(UPDATE_SLICE) for j in [job, *region_jobs]])
        return RoutedRecommender(model, router, adapters).eval()

    def _edit(self, router: Router, f_rep: np.ndarray, context: StrategyContext) -> SliceEdits:
        if not self.editing:
            # Fixed regions: every region that owns new windows counts as changed.
            fixed = SliceEdits(UPDATE_SLICE)
            fixed.edited.update(int(r) for r in np.unique(router.nearest(f_rep)))
            return fixed
        editor = RegionEditor(router.bank, context.config.regions, seed=context.seed, slice_index=UPDATE_SLICE)
        editor.edit(f_rep)
        edits = editor.close_slice()
        context.recorder.record("edits", edit_rows(edits))
        return edits

    @staticmethod
    def _record_regions(context: StrategyContext, before: RegionBank, after: RegionBank, edits: SliceEdits) -> None:
        context.recorder.record("regions", region_rows(before, after, edits.slice_index))


def edit_rows(edits: SliceEdits) -> list[Row]:
    """``edits`` store rows: how many samples each op applied to each region in the slice."""
    return [
        {"slice": edits.slice_index, "region_id": region_id, "op": op, "count": n}
        for (region_id, op), n in sorted(edits.counts.items())
    ]


def region_rows(before: RegionBank, after: RegionBank, slice_index: int) -> list[Row]:
    """``regions`` store rows: the bank before and after a slice's edits."""
    rows: list[Row] = []
    for stage, bank in (("before", before), ("after", after)):
        for i, region_id in enumerate(bank.ids.tolist()):
            rows.append(
                {
                    "slice": slice_index,
                    "stage": stage,
                    "region_id": region_id,
                    "version": int(bank.version[i]),
                    "count": int(bank.count[i]),
                    "radius_deg": float(np.rad2deg(bank.radius[i])),
                    "centre": bank.centres[i].tolist(),
                }
            )
    return rows


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
        keep_initial=False,
    )


def train_region_adapters(
    model: PeftModel,
    bank: RegionBank,
    edits: SliceEdits,
    new: OwnedWindows,
    old: OwnedWindows,
    valid: OwnedWindows,
    config: ExperimentConfig,
    device: torch.device,
    seed: int,
) -> tuple[dict[int, str], list[TrainJob]]:
    """One adapter per region; only edited or new regions with enough new windows train.

    A region met for the first time gets an adapter (a copy of the global one
    with ``init: global``); a changed region's existing adapter restarts from
    the global one too, so every retrained adapter starts from the same point."""
    warm_start = config.regions.init == "global"
    adapters: dict[int, str] = {}
    jobs = []
    for region_id in bank.ids.tolist():
        name = region_adapter(region_id)
        adapters[region_id] = name
        retrain = needs_retraining(region_id, edits, new, config)
        if name not in model.peft_config:
            add_adapter(model, name, config.lora, init_from=GLOBAL_ADAPTER if warm_start else None)
        elif retrain and warm_start:
            copy_adapter(model, GLOBAL_ADAPTER, name)
        if retrain:  # otherwise it keeps its starting point: unedited, or too little new data to learn from
            jobs.append(
                train_region_adapter(
                    model, name, region_id, bank.centres, bank.ids, new, old, valid, config, device, seed
                )
            )
    model.set_adapter(GLOBAL_ADAPTER)
    return adapters, jobs


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
) -> TrainJob:
    """Train adapter ``name`` (already at its starting point) on one region's windows, with the overlap penalty."""
    cfg = config.regions
    region_new, region_valid = new.of(region_id), valid.of(region_id)
    if len(region_valid) < MIN_REGION_VALID:
        region_valid = valid.windows
    index = int(np.flatnonzero(region_ids == region_id)[0])
    return train_adapter(
        model,
        name,
        region_id,
        rehearsal_epochs(region_new, old.of(region_id), config.strategy.new_data_fraction, config.protocol.context_len),
        region_loss(model, centres, index, cfg.overlap_weight, cfg.overlap_margin),
        len(region_new),
        region_valid,
        config,
        device=device,
        seed=seed + 1 + region_id,
        keep_initial=cfg.init == "global",
    )


@register_strategy("raie")
class RAIE(_RegionAware):
    pass


@register_strategy("raie-wo-kr")
class WithoutKnowledgeRegions(_RegionAware):
    per_region = False


@register_strategy("raie-wo-ke")
class WithoutKnowledgeEditing(_RegionAware):
    editing = False


@register_strategy("raie-wo-all")
class WithoutAll(_RegionAware):
    per_region = False
    editing = False
