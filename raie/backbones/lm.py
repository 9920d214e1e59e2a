"""The ``lm`` backbone: a Hugging Face language model reads item-text prompts.

LLM-based recommendation after the RAIE paper (arXiv 2603.00638, OpenP5-style
prompts): the window's items become a prompt (:mod:`raie.backbones.prompts`),
the LM's pooled hidden state, through a small user head, is the user vector,
and items are scored by dot product with item vectors:

    item vector = frozen LM embedding of the item's text + learnable ID residual

Pooling: mean over tokens for encoders (MiniLM is trained that way), the last
token's state for causal LMs. Training is full-softmax cross-entropy over the
whole catalogue (the shared loss of :mod:`raie.training`): with item vectors
precomputed it costs one [B, H] x [H, n_items] product, exact and cheap at
10^4 items, and it matches full-ranking evaluation; sampled softmax would only
pay off at catalogue sizes this project does not reach.

The LM itself is frozen; Set-up trains the user head and the ID residuals, and
LoRA adapts the LM's attention and FFN projections. While no adapter is
active, the frozen LM's encodings of contexts are cached, so Set-up epochs
after the first cost no LM forward passes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from raie.backbones.base import SequentialRecommender, embedding_rows, register_backbone
from raie.backbones.hf_models import LoadedLM, load_lm
from raie.backbones.prompts import PromptBuilder
from raie.config import ExperimentConfig, LMConfig
from raie.data.catalog import Catalog

LORA_TARGETS = {
    "bert": ("query", "key", "value", "dense"),
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}
"""Attention and FFN projections per architecture; others adapt every nn.Linear."""

FROZEN_CACHE_LIMIT = 500_000
"""Cached context encodings kept (oldest evicted first): ~0.8 GB at H = 384,
far above an offline run's ~40k windows, and a bound for a long-running stream."""

_ITEM_TEXT_CACHE: dict[tuple[str, int, int], torch.Tensor] = {}
"""(model, catalogue hash, budget) -> item-text embeddings, shared by every seed of a run."""


class LMRecommender(SequentialRecommender):
    def __init__(self, loaded: LoadedLM, catalog: Catalog, config: LMConfig, name: str) -> None:
        super().__init__()
        self.lm = loaded.model.requires_grad_(False)
        self.causal = loaded.causal
        self.prompts = PromptBuilder(loaded.tokenizer, catalog, config.max_tokens)
        self.encode_batch = config.encode_batch
        hidden = loaded.hidden_size
        self.lora_target_modules = LORA_TARGETS.get(loaded.model_type) or _linear_names(self.lm)
        self.user_head = nn.Linear(hidden, hidden)
        nn.init.eye_(self.user_head.weight)
        nn.init.zeros_(self.user_head.bias)
        self.register_buffer("item_text", self._item_text_vectors(loaded, catalog, name), persistent=False)
        self.id_residual = nn.Embedding(catalog.n_items + 1, hidden) if config.id_residual else None
        if self.id_residual is not None:
            nn.init.zeros_(self.id_residual.weight)
            self.item_embedding_modules = ("id_residual",)
        self._frozen: dict[bytes, torch.Tensor] = {}

    def train(self, mode: bool = True) -> LMRecommender:
        super().train(mode)
        self.lm.eval()  # the LM runs without dropout: encodings stay cacheable and LoRA steps stable
        return self

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.causal:
            last = mask.sum(dim=1) - 1
            return hidden[torch.arange(len(hidden), device=hidden.device), last]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def encode(self, context: torch.Tensor) -> torch.Tensor:
        """[B, L] item indices -> [B, H] pooled LM states of the prompts."""
        ids, mask = self.prompts.batch(context)
        hidden = self.lm(input_ids=ids, attention_mask=mask).last_hidden_state
        return self._pool(hidden, mask)

    def _adapted(self) -> bool:
        return any(isinstance(m, BaseTunerLayer) and not m.disable_adapters for m in self.lm.modules())

    def _encode_cached(self, context: torch.Tensor) -> torch.Tensor:
        keys = [row.tobytes() for row in context.cpu().numpy()]
        missing = [i for i, key in enumerate(keys) if key not in self._frozen]
        if missing:
            with torch.no_grad():
                fresh = self.encode(context[missing])
            for i, vector in zip(missing, fresh, strict=True):
                self._frozen[keys[i]] = vector
            while len(self._frozen) > FROZEN_CACHE_LIMIT:
                del self._frozen[next(iter(self._frozen))]
        return torch.stack([self._frozen[key] for key in keys])

    def user_vector(self, context: torch.Tensor) -> torch.Tensor:
        pooled = self.encode(context) if self._adapted() else self._encode_cached(context)
        user: torch.Tensor = self.user_head(pooled)
        return user

    def item_vectors(self) -> torch.Tensor:
        text = self.get_buffer("item_text")
        if self.id_residual is None:
            return text
        return text + embedding_rows(self.id_residual, text.shape[0], text.device)

    @torch.no_grad()
    def _item_text_vectors(self, loaded: LoadedLM, catalog: Catalog, name: str) -> torch.Tensor:
        key = (name, hash(catalog.texts), self.prompts.max_tokens)
        if key not in _ITEM_TEXT_CACHE:
            tokenizer, parts = loaded.tokenizer, []
            texts = list(catalog.texts[1:])
            for start in range(0, len(texts), self.encode_batch):
                batch = tokenizer(
                    texts[start : start + self.encode_batch],
                    truncation=True,
                    max_length=self.prompts.max_tokens,
                    padding=True,
                    return_tensors="pt",
                )
                hidden = loaded.model(**batch).last_hidden_state
                parts.append(self._pool(hidden, batch["attention_mask"]))
            vectors = torch.cat(parts) if parts else torch.zeros(0, loaded.hidden_size)
            _ITEM_TEXT_CACHE[key] = torch.cat([torch.zeros(1, vectors.shape[1]), vectors])
        return _ITEM_TEXT_CACHE[key].clone()


def _linear_names(module: nn.Module) -> tuple[str, ...]:
    return tuple(sorted({name.rsplit(".", 1)[-1] for name, m in module.named_modules() if isinstance(m, nn.Linear)}))


@register_backbone("lm")
def build_lm(config: ExperimentConfig, catalog: Catalog) -> LMRecommender:
    loaded = load_lm(config.lm.model, Path(config.lm.cache_dir))
    return LMRecommender(loaded, catalog, config.lm, config.lm.model)
