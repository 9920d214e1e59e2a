"""One training loop for every backbone and strategy.

A strategy supplies what differs: the windows of each epoch and the loss.
The loop does batching, the optimiser, progress and early stopping on a
validation part (never on test data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from raie.backbones.base import SequentialRecommender
from raie.config import TrainConfig
from raie.evaluation import rank_windows
from raie.protocol.preprocess import PADDING_ITEM
from raie.protocol.windows import Windows

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(context [B, L], target [B]) -> scalar loss; closes over the model."""

EpochWindows = Callable[[np.random.Generator], Windows]
"""Draws one epoch's training windows (replay mixes old data in here)."""


def item_logits(model: SequentialRecommender, context: torch.Tensor) -> torch.Tensor:
    """Scores of all items with the padding column removed from the softmax."""
    logits = model.full_sort_scores(context)
    logits[:, PADDING_ITEM] = -torch.inf
    return logits


def cross_entropy(model: SequentialRecommender) -> LossFn:
    """Full-softmax cross-entropy over every item: exact and cheap at catalogue
    sizes up to ~10^5, and it matches full-ranking evaluation."""

    def loss(context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return recommendation_loss(item_logits(model, context), target)

    return loss


def recommendation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy that ignores padding targets: an item the stream could not give a
    row (its vocabulary full) reads as padding and must teach nothing. A batch of
    padding targets only gives a zero loss (an empty selection's sum), not NaN."""
    real = target != PADDING_ITEM
    if not bool(real.any()):
        return logits[real].sum()
    return nn.functional.cross_entropy(logits[real], target[real])


@dataclass
class FitReport:
    epochs_run: int = 0
    best_epoch: int = 0
    best_valid_recall: float = float("nan")
    train_loss: list[float] = field(default_factory=list)
    valid_recall: list[float] = field(default_factory=list)


def fit(
    model: SequentialRecommender,
    epoch_windows: EpochWindows,
    loss_fn: LossFn,
    config: TrainConfig,
    *,
    valid: Windows | None,
    device: torch.device,
    seed: int,
    desc: str,
    eval_batch_size: int = 512,
    keep_initial: bool = False,
) -> FitReport:
    """Train the model's trainable parameters; keep the best state on ``valid``.

    With ``keep_initial`` the untrained state competes too (as epoch 0), so a
    warm-started adapter is only replaced when training beats it on ``valid``.
    """
    rng = np.random.default_rng(seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    report = FitReport()
    early_stopping = config.patience > 0 and valid is not None and len(valid) > 0
    best_state: dict[str, torch.Tensor] | None = None
    if early_stopping and keep_initial:
        assert valid is not None
        report.best_valid_recall = rank_windows(model, valid, batch_size=eval_batch_size, device=device).recall()
        best_state = _trainable_state(model)
    for epoch in range(1, config.epochs + 1):
        windows = epoch_windows(rng)
        order = rng.permutation(len(windows))
        model.train()
        total, batches = 0.0, 0
        starts = range(0, len(order), config.batch_size)
        # disable=None: a bar on a terminal, none in logs (CI, the stream worker's log file).
        progress = tqdm(starts, desc=f"{desc} epoch {epoch}/{config.epochs}", leave=False, unit="batch", disable=None)
        for start in progress:
            index = order[start : start + config.batch_size]
            context = torch.from_numpy(windows.context[index]).to(device)
            target = torch.from_numpy(windows.target[index]).to(device)
            loss = loss_fn(context, target)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
            batches += 1
        report.epochs_run = epoch
        report.train_loss.append(total / max(batches, 1))
        if not early_stopping:
            continue
        assert valid is not None
        recall = rank_windows(model, valid, batch_size=eval_batch_size, device=device).recall()
        report.valid_recall.append(recall)
        if best_state is None or recall > report.best_valid_recall:
            report.best_epoch, report.best_valid_recall = epoch, recall
            best_state = _trainable_state(model)
        elif epoch - report.best_epoch >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    else:
        report.best_epoch = report.epochs_run
    return report


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of only what training changes (the LoRA weights, when frozen elsewhere)."""
    names = {name for name, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}
