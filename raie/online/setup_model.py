"""Training the frozen Set-up backbone: what slice 0 (the offline runner's S) starts with."""

from __future__ import annotations

import torch

from raie.backbones import SequentialRecommender, build_backbone
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.protocol.windows import Windows
from raie.seeding import seed_everything
from raie.training import cross_entropy, fit


def train_setup_on(
    backbone: str,
    config: ExperimentConfig,
    catalog: Catalog,
    train: Windows,
    valid: Windows,
    seed: int,
    device: torch.device,
) -> SequentialRecommender:
    """A frozen backbone trained on ``train`` and early-stopped on ``valid``."""
    seed_everything(seed)
    model = build_backbone(backbone, config, catalog).to(device)
    fit(
        model,
        lambda rng: train,
        cross_entropy(model),
        config.setup_train,
        valid=valid,
        device=device,
        seed=seed,
        desc=f"set-up seed {seed}",
        eval_batch_size=config.eval_batch_size,
    )
    model.requires_grad_(False)
    return model.eval()
