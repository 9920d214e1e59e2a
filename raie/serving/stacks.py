"""Every adapter stack that can serve, merged into a plain copy of the backbone, with its item vectors cached.

Scoring through peft switches adapters on one model for each region group of
a batch; on SASRec that switch (peft walks every module) and recomputing the
LoRA-adapted item matrix cost more than the forward pass itself. Serving
instead keeps one merged model per stack (the global adapter, and each region
adapter on it when residual) and its item matrix, built once per slice, so a
request costs a user-vector forward and one matrix product per group.
The scores are the routed model's (raie/adapters/routed.py), up to float rounding.

Memory: one backbone copy per stack: about 2 MB each for the default SASRec;
for the ``lm`` backbone each copy is the whole language model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from peft import PeftModel

from raie.adapters.live import LiveAdapters
from raie.adapters.routed import log_probabilities, region_adapter, serving_stack
from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, activate
from raie.config import RESIDUAL_INIT, RegionConfig


@dataclass(frozen=True)
class Stack:
    """One servable stack: its merged backbone and cached item vectors."""

    adapters: tuple[str, ...]
    model: SequentialRecommender
    items: torch.Tensor  # [rows, H]

    def scores(self, context: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model.user_vector(context) @ self.items.T
        return out


@dataclass(frozen=True)
class MergedStacks:
    by_adapter: dict[str, Stack]
    """Serving adapter name (``global`` or ``region_<id>``) -> its stack."""
    blend: float
    """``regions.blend``: a region's log-probabilities averaged with the global adapter's."""

    @classmethod
    @torch.inference_mode()
    def build(cls, live: LiveAdapters, regions: list[int], config: RegionConfig) -> MergedStacks:
        """Stacks of the global adapter and of each region that has a loaded adapter; regions
        without one serve with the global stack, as in routed scoring."""
        residual = config.init == RESIDUAL_INIT
        loaded = set(live.versions)
        by_adapter = {GLOBAL_ADAPTER: _merged(live, (GLOBAL_ADAPTER,) if GLOBAL_ADAPTER in loaded else ())}
        for region in regions:
            name = region_adapter(region)
            if name in loaded:
                stack = tuple(a for a in serving_stack(name, residual) if a in loaded)
                by_adapter[name] = _merged(live, stack)
        return cls(by_adapter, config.blend)

    def stack(self, adapter: str) -> Stack:
        return self.by_adapter.get(adapter, self.by_adapter[GLOBAL_ADAPTER])

    @torch.inference_mode()
    def scores(self, context: torch.Tensor, adapters: list[str]) -> torch.Tensor:
        """[B, rows]: each row scored by its serving adapter's stack, blended with the global one
        as :class:`~raie.adapters.routed.RoutedRecommender` does."""
        out: torch.Tensor | None = None
        for name in sorted(set(adapters)):
            rows = torch.tensor([i for i, a in enumerate(adapters) if a == name], device=context.device)
            part = self.stack(name).scores(context[rows])
            if out is None:
                out = part.new_empty((len(context), part.shape[1]))
            out[rows] = part
        assert out is not None, "an empty batch has no scores"
        if self.blend >= 1.0:
            return out
        shared = self.by_adapter[GLOBAL_ADAPTER].scores(context)
        return self.blend * log_probabilities(out) + (1.0 - self.blend) * log_probabilities(shared)


def _merged(live: LiveAdapters, adapters: tuple[str, ...]) -> Stack:
    """A plain backbone with ``adapters``' deltas merged in; no adapter: the Set-up model itself."""
    if not adapters:
        model = live.setup_model
    else:
        peft_copy: PeftModel = copy.deepcopy(live.model)
        activate(peft_copy, adapters)
        merged = peft_copy.merge_and_unload(adapter_names=list(adapters))
        assert isinstance(merged, SequentialRecommender)
        model = merged.eval()
    return Stack(adapters, model, model.item_vectors().detach())
