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

import numpy as np

from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, adapted_backbone, add_adapter, with_lora
from raie.regions.bank import RegionBank
from raie.regions.editor import RegionEditor, SliceEdits
from raie.regions.router import FALLBACK, Router, represent_windows
from raie.strategies.base import StrategyContext, UpdateStrategy, register_strategy
from raie.strategies.region_training import region_loss, train_adapter
from raie.strategies.rehearsal import rehearsal_epochs, stratified_rehearsal_epochs
from raie.strategies.routed import RoutedRecommender, region_adapter
from raie.training import cross_entropy

UPDATE_SLICE = 1
"""The offline protocol has one update slice, F; slice 0 is Set-up."""

MIN_REGION_VALID = 10
"""A region with fewer validation windows early-stops on all of F's validation
windows instead: a handful of windows cannot rank epochs."""


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

        new = fine_tune.train.take(np.argsort(fine_tune.train.ts, kind="stable"))
        f_rep = router.represent_windows(new, device)
        edits = self._edit(router, f_rep, context)
        self._record_regions(context, before, router.bank, edits)

        owner_new, owner_old = router.nearest(f_rep), router.nearest(s_rep)
        owner_valid = router.nearest(router.represent_windows(fine_tune.valid, device))
        model = with_lora(setup_model, context.config.lora).to(device)
        length = context.config.protocol.context_len
        fraction = context.config.strategy.new_data_fraction
        global_job = train_adapter(
            model,
            GLOBAL_ADAPTER,
            FALLBACK,
            stratified_rehearsal_epochs(new, owner_new, setup.train, owner_old, fraction, length),
            cross_entropy(adapted_backbone(model)),
            len(new),
            fine_tune.valid,
            context.config,
            device=device,
            seed=context.seed,
            keep_initial=False,
        )
        jobs = [global_job]
        if not self.per_region:
            context.recorder.record("train_jobs", [job.row(UPDATE_SLICE) for job in jobs])
            return adapted_backbone(model)

        adapters: dict[int, str] = {}
        centres = router.bank.centres
        for index, region_id in enumerate(router.bank.ids.tolist()):
            name = region_adapter(region_id)
            add_adapter(model, name, context.config.lora, init_from=GLOBAL_ADAPTER if cfg.init == "global" else None)
            adapters[region_id] = name
            mine = owner_new == region_id
            if region_id not in edits.changed or mine.sum() < cfg.min_region_size:
                continue  # keeps its starting point: unedited, or too little new data to learn from
            old = setup.train.take(np.flatnonzero(owner_old == region_id))
            valid = fine_tune.valid.take(np.flatnonzero(owner_valid == region_id))
            if len(valid) < MIN_REGION_VALID:
                valid = fine_tune.valid
            region_new = new.take(np.flatnonzero(mine))
            jobs.append(
                train_adapter(
                    model,
                    name,
                    region_id,
                    rehearsal_epochs(region_new, old, fraction, length),
                    region_loss(model, centres, index, cfg.overlap_weight, cfg.overlap_margin),
                    len(region_new),
                    valid,
                    context.config,
                    device=device,
                    seed=context.seed + 1 + region_id,
                    keep_initial=cfg.init == "global",
                )
            )
        model.set_adapter(GLOBAL_ADAPTER)
        context.recorder.record("train_jobs", [job.row(UPDATE_SLICE) for job in jobs])
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
        context.recorder.record(
            "edits",
            [
                {"slice": UPDATE_SLICE, "region_id": region_id, "op": op, "count": n}
                for (region_id, op), n in sorted(edits.counts.items())
            ],
        )
        return edits

    @staticmethod
    def _record_regions(context: StrategyContext, before: RegionBank, after: RegionBank, edits: SliceEdits) -> None:
        rows = []
        for stage, bank in (("before", before), ("after", after)):
            for i, region_id in enumerate(bank.ids.tolist()):
                rows.append(
                    {
                        "slice": edits.slice_index,
                        "stage": stage,
                        "region_id": region_id,
                        "version": int(bank.version[i]),
                        "count": int(bank.count[i]),
                        "radius_deg": float(np.rad2deg(bank.radius[i])),
                        "centre": bank.centres[i].tolist(),
                    }
                )
        context.recorder.record("regions", rows)


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
