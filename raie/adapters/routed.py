"""Routed inference: each window is scored by its region's adapter.

All adapters live on one peft-wrapped backbone. A batch is split by region,
each part runs with its adapter active, and the scores are put back in
order. Windows the router is not confident about (p1 < tau_infer) use the
global adapter. Under ``regions.init: residual`` a region's adapter is a
residual trained on top of the global one, so it serves stacked on it.
"""

from __future__ import annotations

import numpy as np
import torch
from peft import PeftModel

from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, activate, adapted_backbone
from raie.protocol.preprocess import PADDING_ITEM
from raie.regions.router import FALLBACK, Router


def region_adapter(region_id: int) -> str:
    """peft adapter name of a region (ids are stable, so names are too)."""
    return f"region_{region_id}"


def serving_stack(adapter: str, residual: bool) -> tuple[str, ...]:
    """The adapters active when ``adapter`` serves: a residual region adapter runs on the global one."""
    return (GLOBAL_ADAPTER, adapter) if residual and adapter != GLOBAL_ADAPTER else (adapter,)


class RoutedRecommender(SequentialRecommender):
    def __init__(
        self,
        model: PeftModel,
        router: Router,
        adapters: dict[int, str],
        *,
        residual: bool = False,
        blend: float = 1.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.router = router
        self.adapters = adapters
        """Region id -> adapter; regions without one use the global adapter."""
        self.residual = residual
        """Region adapters are residuals on the global adapter (``regions.init: residual``)."""
        self.blend = blend
        """Weight of a region adapter's log-probabilities against the global adapter's for the
        windows it serves (``regions.blend``); 1 is the paper's hard switch."""

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
            activate(self.model, serving_stack(str(name), self.residual))
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
        routed = self._grouped(context, "full_sort_scores")
        if self.blend >= 1.0:
            return routed
        # Log-probabilities, so the two adapters' scores share one scale; a window the global
        # adapter serves gets its scores back unchanged.
        activate(self.model, (GLOBAL_ADAPTER,))
        shared = adapted_backbone(self.model).full_sort_scores(context)
        return self.blend * log_probabilities(routed) + (1.0 - self.blend) * log_probabilities(shared)

    def item_vectors(self) -> torch.Tensor:
        return adapted_backbone(self.model).item_vectors()


def log_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the items, the padding column left out (it stays -inf)."""
    masked = scores.clone()
    masked[:, PADDING_ITEM] = -torch.inf
    return torch.log_softmax(masked, dim=-1)
