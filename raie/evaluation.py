"""Score windows with a model under the one metrics module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from raie.backbones.base import SequentialRecommender
from raie.metrics import MetricValue, recall_at, recall_by_kind, summarize, target_ranks
from raie.protocol.windows import Windows

ScoreBlend = Callable[[slice, torch.Tensor], torch.Tensor]
"""Rewrites a batch's scores (the batch's rows of the ranked windows, [B, n_items + 1])
before ranking: e.g. the hybrid strategy's retrieval blend (raie/retrieval.py)."""

VALIDATION_K = 10
"""Early stopping and model choice use Recall@10, the paper's headline metric."""


@dataclass(frozen=True)
class Ranking:
    """Rank of each window's target, with the window's user for per-user means."""

    ranks: np.ndarray  # int64 [n]
    users: np.ndarray  # int64 [n]

    def summary(self) -> list[MetricValue]:
        return summarize(self.ranks, self.users)

    def recall(self, k: int = VALIDATION_K) -> float:
        return float(recall_at(self.ranks, k).mean()) if len(self.ranks) else float("nan")


def recall_by_target_kind(
    ranking: Ranking, target_kind: np.ndarray, k: int = VALIDATION_K
) -> dict[str, tuple[float, int]]:
    """Recall@k and window count per target kind (``raie.metrics.target_kinds`` of the ranked windows)."""
    return recall_by_kind(ranking.ranks, target_kind, k)


@torch.inference_mode()
def rank_windows(
    model: SequentialRecommender,
    windows: Windows,
    *,
    batch_size: int,
    device: torch.device,
    desc: str | None = None,
    blend: ScoreBlend | None = None,
) -> Ranking:
    """Full-ranking evaluation of every window under the one metrics module."""
    was_training = model.training
    model.eval()
    ranks = []
    starts = range(0, len(windows), batch_size)
    for start in tqdm(starts, desc=desc, disable=desc is None, leave=False, unit="batch"):
        part = slice(start, start + batch_size)
        context = torch.from_numpy(windows.context[part]).to(device)
        target = torch.from_numpy(windows.target[part]).to(device)
        scores = model.full_sort_scores(context)
        if blend is not None:
            scores = blend(part, scores)
        ranks.append(target_ranks(scores, context, target).cpu().numpy())
    model.train(was_training)
    all_ranks = np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)
    return Ranking(all_ranks, windows.user.copy())
