"""SASRec: Self-Attentive Sequential Recommendation (Kang & McAuley, ICDM 2018).

Item and learned position embeddings feed a stack of causal self-attention
blocks (pre-norm, as in the authors' code); the last position's output is the
user vector, scored against the shared item embedding by dot product.
Attention and FFN projections are plain ``nn.Linear`` layers with stable
names, so peft can put LoRA on them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from raie.backbones.base import SequentialRecommender, embedding_rows, register_backbone
from raie.config import ExperimentConfig, SASRecConfig
from raie.data.catalog import Catalog
from raie.protocol.preprocess import PADDING_ITEM


class CausalSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        # A query may attend to earlier, non-padding keys; the diagonal stays open
        # so that a padded query still has one key and yields no NaN.
        allowed = causal & (~padding[:, None, None, :] | torch.eye(length, dtype=torch.bool, device=x.device))
        out = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )
        projected: torch.Tensor = self.out_proj(out.transpose(1, 2).reshape(batch, length, hidden))
        return projected


class FeedForward(nn.Module):
    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(self.dropout(torch.relu(self.fc1(x))))
        return out


class SASRecBlock(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.hidden)
        self.attention = CausalSelfAttention(config.hidden, config.heads, config.dropout)
        self.ffn_norm = nn.LayerNorm(config.hidden)
        self.ffn = FeedForward(config.hidden, config.dropout)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.attn_norm(x), padding))
        x = x + self.dropout(self.ffn(self.ffn_norm(x)))
        return x.masked_fill(padding[..., None], 0.0)


class SASRec(SequentialRecommender):
    lora_target_modules = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
    item_embedding_modules = ("item_embedding",)

    def __init__(self, n_items: int, max_len: int, config: SASRecConfig) -> None:
        super().__init__()
        self.hidden = config.hidden
        self.n_rows = n_items + 1
        self.item_embedding = nn.Embedding(self.n_rows, config.hidden, padding_idx=PADDING_ITEM)
        self.position_embedding = nn.Embedding(max_len, config.hidden)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(SASRecBlock(config) for _ in range(config.blocks))
        self.final_norm = nn.LayerNorm(config.hidden)
        nn.init.normal_(self.item_embedding.weight, std=1.0 / math.sqrt(config.hidden))
        with torch.no_grad():
            self.item_embedding.weight[PADDING_ITEM].zero_()

    def user_vector(self, context: torch.Tensor) -> torch.Tensor:
        padding = context == PADDING_ITEM
        positions = torch.arange(context.shape[1], device=context.device)
        # Scaling by sqrt(hidden) follows the paper's embedding layer.
        x = self.item_embedding(context) * math.sqrt(self.hidden) + self.position_embedding(positions)
        x = self.embedding_dropout(x).masked_fill(padding[..., None], 0.0)
        for block in self.blocks:
            x = block(x, padding)
        user: torch.Tensor = self.final_norm(x[:, -1, :])
        return user

    def item_vectors(self) -> torch.Tensor:
        return embedding_rows(self.item_embedding, self.n_rows, self.position_embedding.weight.device)


@register_backbone("sasrec")
def build_sasrec(config: ExperimentConfig, catalog: Catalog) -> SASRec:
    return SASRec(catalog.n_items, config.protocol.context_len, config.sasrec)
