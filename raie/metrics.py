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

from raie.protocol.preprocess import PADDING_ITEM

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
