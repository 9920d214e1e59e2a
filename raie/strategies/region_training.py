"""Training one region's adapter: recommendation loss plus the overlap penalty.

L = L_rec + lambda * L_overlap, where L_overlap is a hinge that keeps the
*adapted* representation h of a region-k window closer to c_k than to any
other centre by a margin (docs/METHOD.md section 4):

    L_overlap = mean(max(0, margin + max_{j != k} c_j . h - c_k . h))

The reference code omits it; without it a region's adapter is free to pull
its windows' representations into a neighbour's territory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from peft import PeftModel
from torch import nn

from raie.backbones.lora import activate, adapted_backbone
from raie.config import ExperimentConfig, TrainConfig
from raie.protocol.preprocess import PADDING_ITEM
from raie.protocol.windows import Windows
from raie.training import EpochWindows, FitReport, LossFn, fit, item_logits, recommendation_loss


def overlap_penalty(representation: torch.Tensor, centres: torch.Tensor, own: int, margin: float) -> torch.Tensor:
    """Hinge on the gap between the own centre and the closest rival, [B, H] -> scalar."""
    similarity = representation @ centres.T
    own_similarity = similarity[:, own]
    rivals = torch.cat([similarity[:, :own], similarity[:, own + 1 :]], dim=1)
    return nn.functional.relu(margin + rivals.max(dim=1).values - own_similarity).mean()


def region_loss(model: PeftModel, centres: np.ndarray, own: int, weight: float, margin: float) -> LossFn:
    backbone = adapted_backbone(model)
    centre_tensor = torch.from_numpy(centres)

    def loss(context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if weight == 0 or len(centres) < 2:
            return recommendation_loss(item_logits(backbone, context), target)
        # One forward pass serves both terms: scores are user vector . item vectors.
        user = backbone.user_vector(context)
        logits = user @ backbone.item_vectors().T
        logits[:, PADDING_ITEM] = -torch.inf
        h = nn.functional.normalize(user, dim=-1)
        overlap = overlap_penalty(h, centre_tensor.to(h.device), own, margin)
        return recommendation_loss(logits, target) + weight * overlap

    return loss


@dataclass(frozen=True)
class TrainJob:
    """What one adapter training produced, as a ``train_jobs`` store row."""

    adapter: str
    region_id: int
    new_windows: int
    old_windows: int
    valid_windows: int
    report: FitReport
    seconds: float

    @property
    def valid_recall(self) -> float | None:
        """Validation Recall@10 of the kept epoch; None when the job had nothing to validate on."""
        recall = self.report.best_valid_recall
        return None if np.isnan(recall) else float(recall)

    def row(self, slice_index: int) -> dict[str, object]:
        return {
            "slice": slice_index,
            "adapter": self.adapter,
            "region_id": self.region_id,
            "new_windows": self.new_windows,
            "old_windows": self.old_windows,
            "valid_windows": self.valid_windows,
            "epochs_run": self.report.epochs_run,
            "best_epoch": self.report.best_epoch,
            "valid_recall": self.valid_recall,
            "seconds": self.seconds,
        }


def train_adapter(
    model: PeftModel,
    adapter: str,
    region_id: int,
    epochs: EpochWindows,
    loss: LossFn,
    n_new: int,
    valid: Windows,
    config: ExperimentConfig,
    *,
    device: torch.device,
    seed: int,
    keep_initial: bool,
    stacked_on: tuple[str, ...] = (),
    train: TrainConfig | None = None,
) -> TrainJob:
    """Train only ``adapter`` and early-stop it on ``valid`` (``train``: the budget, by default
    ``finetune_train``). ``stacked_on``: adapters active beneath it, frozen (a residual region
    adapter trains on top of the global one)."""
    started = time.perf_counter()
    n_epoch = len(epochs(np.random.default_rng(seed)))  # the rehearsal share is the same every epoch
    activate(model, (*stacked_on, adapter))
    report = fit(
        adapted_backbone(model),
        epochs,
        loss,
        train or config.finetune_train,
        valid=valid,
        device=device,
        seed=seed,
        desc=adapter,
        eval_batch_size=config.eval_batch_size,
        keep_initial=keep_initial,
    )
    return TrainJob(adapter, region_id, n_new, n_epoch - n_new, len(valid), report, time.perf_counter() - started)
