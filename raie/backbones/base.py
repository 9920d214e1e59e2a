"""The backbone contract, modelled on RecBole's SequentialRecommender.

A backbone maps a context window to a user vector and scores every item
against it. Strategies and the evaluator talk only to this contract, so no
strategy contains backbone-specific branches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import nn

from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.registry import Registry


class SequentialRecommender(nn.Module, ABC):
    """Context window in, scores over all items out."""

    lora_target_modules: tuple[str, ...] = ()
    """Names of the nn.Linear layers LoRA adapts (attention and FFN projections)."""

    @abstractmethod
    def user_vector(self, context: torch.Tensor) -> torch.Tensor:
        """[B, L] item indices (0 = padding) -> [B, H] user vectors."""

    @abstractmethod
    def item_vectors(self) -> torch.Tensor:
        """[n_items + 1, H]: row 0 is padding and is never recommended."""

    def full_sort_scores(self, context: torch.Tensor) -> torch.Tensor:
        """[B, n_items + 1] dot-product scores of every item."""
        return self.user_vector(context) @ self.item_vectors().T

    def representation(self, context: torch.Tensor) -> torch.Tensor:
        """L2-normalised user vector of the context alone: the target never enters.

        Call it on the frozen Set-up model to route windows to regions.
        """
        return nn.functional.normalize(self.user_vector(context), dim=-1)


BackboneFactory = Callable[[ExperimentConfig, Catalog], SequentialRecommender]
"""``factory(config, catalog) -> SequentialRecommender`` scoring ``catalog.n_items`` items."""

BACKBONES: Registry[BackboneFactory] = Registry("backbone", ("raie.backbones.sasrec", "raie.backbones.lm"))
register_backbone = BACKBONES.register
backbone_names = BACKBONES.names


def build_backbone(name: str, config: ExperimentConfig, catalog: Catalog) -> SequentialRecommender:
    return BACKBONES.get(name)(config, catalog)
