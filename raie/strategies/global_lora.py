"""The global baselines: Base, one LoRA on F, LoRA + Replay, LoRA + LwF.

- base: the Set-up model unchanged.
- lora: one global adapter trained on F.
- replay: the same, with each epoch mixing S windows back in (rehearsal).
- lwf: the same, plus distillation towards the frozen Set-up model
  (Li & Hoiem, "Learning without Forgetting", 2016).
All fine-tuning early-stops on the slice's validation part. Each update slice
continues the method's adapter from its previous version on that slice's
windows, as a job of the slice step (raie/online/adapter_job.py), offline
and on the stream alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from peft import PeftModel
from torch import nn

from raie.backbones.lora import adapted_backbone
from raie.config import ExperimentConfig
from raie.protocol.windows import Windows
from raie.regions.router import FALLBACK
from raie.strategies.base import UpdateStrategy, build_strategy, register_strategy
from raie.strategies.region_training import TrainJob, train_adapter
from raie.strategies.rehearsal import rehearsal_epochs
from raie.training import EpochWindows, LossFn, cross_entropy, item_logits, recommendation_loss


@register_strategy("base")
class Base(UpdateStrategy):
    serves = "setup"


class _GlobalLoRA(UpdateStrategy):
    """Shared fine-tuning; subclasses choose the epoch windows and the loss."""

    serves = "baseline"

    def train(
        self,
        model: PeftModel,
        adapter: str,
        new: Windows,
        old: Windows,
        valid: Windows,
        config: ExperimentConfig,
        device: torch.device,
        seed: int,
    ) -> TrainJob:
        """Fine-tune ``adapter`` on ``new`` (``old``: what came before, for rehearsal), early-stopped on ``valid``.

        A baseline's adapter job calls this once per update slice."""
        return train_adapter(
            model,
            adapter,
            FALLBACK,
            self.epoch_windows(new, old, config),
            self.loss(model, config),
            len(new),
            valid,
            config,
            device=device,
            seed=seed,
            keep_initial=True,  # no epoch better on validation: keep the previous model
        )

    def epoch_windows(self, new: Windows, old: Windows, config: ExperimentConfig) -> EpochWindows:
        return lambda rng: new

    def loss(self, model: PeftModel, config: ExperimentConfig) -> LossFn:
        return cross_entropy(adapted_backbone(model))


@register_strategy("lora")
class GlobalLoRA(_GlobalLoRA):
    pass


@register_strategy("replay")
class Replay(_GlobalLoRA):
    def epoch_windows(self, new: Windows, old: Windows, config: ExperimentConfig) -> EpochWindows:
        return rehearsal_epochs(new, old, config.strategy.new_data_fraction, config.protocol.context_len)


@register_strategy("lwf")
class LearningWithoutForgetting(_GlobalLoRA):
    def loss(self, model: PeftModel, config: ExperimentConfig) -> LossFn:
        weight, temperature = config.strategy.lwf_weight, config.strategy.lwf_temperature
        backbone = adapted_backbone(model)

        def loss(ctx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            student = item_logits(backbone, ctx)
            with torch.no_grad(), _setup_model_view(model):
                teacher = item_logits(backbone, ctx)
            recommendation = recommendation_loss(student, target)
            # Padding is -inf in both; drop it so KL sees only real items.
            log_p = nn.functional.log_softmax(student[:, 1:] / temperature, dim=-1)
            q = nn.functional.softmax(teacher[:, 1:] / temperature, dim=-1)
            distill = nn.functional.kl_div(log_p, q, reduction="batchmean") * temperature**2
            return recommendation + weight * distill

        return loss


TRAINED_BASELINES = ("lora", "replay", "lwf", "hybrid")
"""The baselines that train an adapter; the stream runs them as adapter jobs beside RAIE's
(``hybrid``, raie/strategies/hybrid.py, only on the slices of its schedule)."""


def baseline_adapter(method: str) -> str:
    """The stream's adapter name of a trained baseline. Not the method's bare name: peft
    misreads an adapter called ``lora`` in its own ``lora_`` parameter prefix."""
    return f"baseline_{method}"


def baseline(method: str) -> _GlobalLoRA:
    """The trained baseline called ``method``."""
    strategy = build_strategy(method)
    if not isinstance(strategy, _GlobalLoRA):
        raise ValueError(f"{method!r} is not one of the trained baselines {TRAINED_BASELINES}")
    return strategy


@contextlib.contextmanager
def _setup_model_view(model: PeftModel) -> Iterator[None]:
    """The frozen Set-up model: adapters off, dropout off."""
    was_training = model.training
    model.eval()
    try:
        with model.disable_adapter():
            yield
    finally:
        model.train(was_training)
