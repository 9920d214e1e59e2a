"""Routed inference: each window is scored by its region's adapter.

All adapters live on one peft-wrapped backbone. A batch is split by region,
each part runs with its adapter active, and the scores are put back in
order. Windows the router is not confident about (p1 < tau_infer) use the
global adapter.
"""

from __future__ import annotations

import numpy as np
import torch
from peft import PeftModel

from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, adapted_backbone
from raie.regions.router import FALLBACK, Router


def region_adapter(region_id: int) -> str:
    """peft adapter name of a region (ids are stable, so names are too)."""
    return f"region_{region_id}"


class RoutedRecommender(SequentialRecommender):
    def __init__(self, model: PeftModel, router: Router, adapters: dict[int, str]) -> None:
        super().__init__()
        self.model = model
        self.router = router
        self.adapters = adapters
        """Region id -> adapter; regions without one use the global adapter."""

    def serving_adapters(self, context: torch.Tensor) -> list[str]:
        """The adapter that serves each window of the batch."""
        return self.adapters_for(self.router.serving(self.router.represent(context)))

    def adapters_for(self, serving_regions: np.ndarray) -> list[str]:
        """The adapter of each serving region (``Router.serving``); FALLBACK and regions without one: global."""
        return [GLOBAL_ADAPTER if r == FALLBACK else self.adapters.get(int(r), GLOBAL_ADAPTER) for r in serving_regions]

    def _grouped(self, context: torch.Tensor, forward: str) -> torch.Tensor:
        names = np.asarray(self.serving_adapters(context))
        backbone = adapted_backbone(self.model)
        out: torch.Tensor | None = None
        for name in np.unique(names):
            rows = torch.from_numpy(np.flatnonzero(names == name)).to(context.device)
            self.model.set_adapter(str(name))
            part = getattr(backbone, forward)(context[rows])
            if out is None:
                out = part.new_empty((len(context), *part.shape[1:]))
            out[rows] = part
        self.model.set_adapter(GLOBAL_ADAPTER)
        assert out is not None, "an empty batch has no scores"
        return out

    def user_vector(self, context: torch.Tensor) -> torch.Tensor:
        return self._grouped(context, "user_vector")

    def full_sort_scores(self, context: torch.Tensor) -> torch.Tensor:
        # Scored per group, so an adapter that also touched item vectors stays exact.
        return self._grouped(context, "full_sort_scores")

    def item_vectors(self) -> torch.Tensor:
        return adapted_backbone(self.model).item_vectors()
