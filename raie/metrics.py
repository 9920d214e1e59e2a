"""The one metrics module: full-ranking Recall@K and NDCG@K (docs/METHOD.md section 6).

Every candidate item is ranked. The window's context items are masked (a
user is not recommended what they just consumed) unless one of them is the
target, which always stays a candidate. Ties are broken pessimistically: the
target ranks after every other item with the same score, so a constant
scorer earns zero rather than a perfect score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from raie.protocol.blocks import ProtocolData
from raie.protocol.preprocess import PADDING_ITEM
from raie.protocol.split import OFFLINE_BLOCK_NAMES
from raie.protocol.windows import Windows

CUTOFFS = (5, 10, 20)
"""The K values reported everywhere, as in the paper's tables."""

METRIC_NAMES = ("recall", "ndcg")


def target_ranks(scores: torch.Tensor, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1-based rank of each target among all items.

    scores: [B, n_items + 1] (column 0 is padding); context: [B, L]; target: [B].
    """
    masked = scores.clone()
    masked[:, PADDING_ITEM] = -torch.inf
    target_score = scores.gather(1, target[:, None])
    masked.scatter_(1, context, -torch.inf)
    masked.scatter_(1, target[:, None], target_score)
    ahead = (masked >= target_score).sum(dim=1)  # counts the target itself once
    return ahead.to(torch.int64)


def recall_at(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-window hit: 1 if the target is in the top k."""
    return (ranks <= k).astype(np.float64)


def ndcg_at(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-window NDCG with one relevant item: 1/log2(rank + 1) inside the top k."""
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)


PER_WINDOW = {"recall": recall_at, "ndcg": ndcg_at}


@dataclass(frozen=True)
class MetricValue:
    metric: str
    k: int
    average: str  # "window" or "user"
    value: float


def user_mean(values: np.ndarray, users: np.ndarray) -> float:
    """Mean over users of each user's mean over their windows."""
    if len(values) == 0:
        return float("nan")
    _, inverse, counts = np.unique(users, return_inverse=True, return_counts=True)
    per_user = np.bincount(inverse, weights=values) / counts
    return float(per_user.mean())


def summarize(ranks: np.ndarray, users: np.ndarray, cutoffs: tuple[int, ...] = CUTOFFS) -> list[MetricValue]:
    """Recall and NDCG at each K, as per-window and per-user means."""
    out: list[MetricValue] = []
    for metric in METRIC_NAMES:
        for k in cutoffs:
            values = PER_WINDOW[metric](ranks, k)
            window_mean = float(values.mean()) if len(values) else float("nan")
            out.append(MetricValue(metric, k, "window", window_mean))
            out.append(MetricValue(metric, k, "user", user_mean(values, users)))
    return out


SEEN_PREFIX = "seen_in_"
FIRST_PREFIX = "first_in_"
"""A target's kind names the block where its item is first a positive: ``seen_in_S``
for the Set-up block, ``first_in_<block>`` for a later one (``first_in_F``, ``first_in_T``)."""


def target_kind_names(block_names: tuple[str, ...]) -> tuple[str, ...]:
    """Every target kind, earliest block first."""
    return tuple((SEEN_PREFIX if i == 0 else FIRST_PREFIX) + name for i, name in enumerate(block_names))


def target_kinds(data: ProtocolData, windows: Windows) -> np.ndarray:
    """Kind of each window's target (str [n]): the block where its item first appears as a positive.

    On T, ``first_in_T`` targets are items no model trained on (no S or F
    window holds them) and ``first_in_F`` ones only the update slice showed;
    Base saw neither, so the split shows where an update's gain comes from.
    """
    positives = data.positives
    n_blocks = len(data.blocks)
    # Blocks are time-ordered, so the earliest block of an item is the minimum block index of its rows.
    first_block = np.full(positives.n_items + 1, n_blocks, dtype=np.int64)
    np.minimum.at(first_block, positives.item, data.block_of_row)
    block = first_block[windows.target]
    if np.any(block == n_blocks):
        raise ValueError("a window's target is no positive of the protocol data")
    names = np.array(target_kind_names(tuple(b.name for b in data.blocks)))
    kinds: np.ndarray = names[block]
    return kinds


def kind_order(kinds: np.ndarray) -> list[str]:
    """The distinct kinds in ``kinds``, earliest block first when blocks are S/F/T or slice<i>."""
    # Shorter block names first puts slice2 before slice10; S < F < T is not alphabetical.
    offline = {name: i for i, name in enumerate(OFFLINE_BLOCK_NAMES)}

    def key(kind: str) -> tuple[bool, int, int, str]:
        block = kind.removeprefix(SEEN_PREFIX).removeprefix(FIRST_PREFIX)
        return (kind.startswith(FIRST_PREFIX), offline.get(block, len(offline)), len(block), block)

    return sorted({str(k) for k in kinds}, key=key)


def recall_by_kind(ranks: np.ndarray, kinds: np.ndarray, k: int) -> dict[str, tuple[float, int]]:
    """Recall@k and window count per target kind (``kind_order``); an empty kind is absent."""
    if ranks.shape != kinds.shape:
        raise ValueError(f"ranks and kinds differ in shape: {ranks.shape} vs {kinds.shape}")
    hits = recall_at(ranks, k)
    out = {}
    for kind in kind_order(kinds):
        mine = kinds == kind
        out[kind] = (float(hits[mine].mean()), int(mine.sum()))
    return out
