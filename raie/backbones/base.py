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
from raie.data.catalog import Catalog, reserved_rows
from raie.registry import Registry


class SequentialRecommender(nn.Module, ABC):
    """Context window in, scores over all items out."""

    lora_target_modules: tuple[str, ...] = ()
    """Names of the nn.Linear layers LoRA adapts (attention and FFN projections)."""
    item_embedding_modules: tuple[str, ...] = ()
    """Names of the nn.Embedding layers indexed by item (row 0 pads). With
    ``lora.item_embeddings`` LoRA adapts them too: peft's embedding LoRA gives every
    item a trainable r-dim code (zero at the start) through one shared projection, so
    an adapter can move old items and learn items first seen after Set-up."""

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


def embedding_rows(embedding: nn.Module, rows: int, device: torch.device) -> torch.Tensor:
    """Every row of an item embedding, read through its forward pass: a peft wrapper
    adds its adapters' deltas there, while ``.weight`` would be the frozen base rows."""
    out: torch.Tensor = embedding(torch.arange(rows, device=device))
    return out


BackboneFactory = Callable[[ExperimentConfig, Catalog], SequentialRecommender]
"""``factory(config, catalog) -> SequentialRecommender`` scoring ``catalog.n_items`` items."""

BACKBONES: Registry[BackboneFactory] = Registry("backbone", ("raie.backbones.sasrec", "raie.backbones.lm"))
register_backbone = BACKBONES.register
backbone_names = BACKBONES.names


def build_backbone(name: str, config: ExperimentConfig, catalog: Catalog) -> SequentialRecommender:
    """Backbone ``name`` over ``catalog`` plus the free rows ``new_item_room`` reserves (added
    here, once, so the offline runner, the stream's Set-up and a reload all get one shape)."""
    return BACKBONES.get(name)(config, catalog.with_room(reserved_rows(catalog.n_items, config.new_item_room)))
