"""The global baselines: Base, one LoRA on F, LoRA + Replay, LoRA + LwF.

- base: the Set-up model unchanged.
- lora: one global adapter trained on F.
- replay: the same, with each epoch mixing S windows back in (rehearsal).
- lwf: the same, plus distillation towards the frozen Set-up model
  (Li & Hoiem, "Learning without Forgetting", 2016).
All fine-tuning early-stops on F's validation part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from peft import PeftModel
from torch import nn

from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import adapted_backbone, with_lora
from raie.strategies.base import StrategyContext, UpdateStrategy, register_strategy
from raie.strategies.rehearsal import rehearsal_epochs
from raie.training import EpochWindows, LossFn, cross_entropy, fit, item_logits


@register_strategy("base")
class Base(UpdateStrategy):
    def update(self, setup_model: SequentialRecommender, context: StrategyContext) -> SequentialRecommender:
        return setup_model


class _GlobalLoRA(UpdateStrategy):
    """Shared fine-tuning; subclasses choose the epoch windows and the loss."""

    def update(self, setup_model: SequentialRecommender, context: StrategyContext) -> SequentialRecommender:
        peft_model = with_lora(setup_model, context.config.lora).to(context.device)
        model = adapted_backbone(peft_model)
        fine_tune = context.data.block("F")
        fit(
            model,
            self.epoch_windows(context),
            self.loss(peft_model, context),
            context.config.finetune_train,
            valid=fine_tune.valid,
            device=context.device,
            seed=context.seed,
            desc=self.name,
            eval_batch_size=context.config.eval_batch_size,
        )
        return model

    def epoch_windows(self, context: StrategyContext) -> EpochWindows:
        windows = context.data.block("F").train
        return lambda rng: windows

    def loss(self, model: PeftModel, context: StrategyContext) -> LossFn:
        return cross_entropy(adapted_backbone(model))


@register_strategy("lora")
class GlobalLoRA(_GlobalLoRA):
    pass


@register_strategy("replay")
class Replay(_GlobalLoRA):
    def epoch_windows(self, context: StrategyContext) -> EpochWindows:
        return rehearsal_epochs(
            context.data.block("F").train,
            context.data.block("S").train,
            context.config.strategy.new_data_fraction,
            context.config.protocol.context_len,
        )


@register_strategy("lwf")
class LearningWithoutForgetting(_GlobalLoRA):
    def loss(self, model: PeftModel, context: StrategyContext) -> LossFn:
        weight = context.config.strategy.lwf_weight
        temperature = context.config.strategy.lwf_temperature

        backbone = adapted_backbone(model)

        def loss(ctx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            student = item_logits(backbone, ctx)
            with torch.no_grad(), _setup_model_view(model):
                teacher = item_logits(backbone, ctx)
            recommendation = nn.functional.cross_entropy(student, target)
            # Padding is -inf in both; drop it so KL sees only real items.
            log_p = nn.functional.log_softmax(student[:, 1:] / temperature, dim=-1)
            q = nn.functional.softmax(teacher[:, 1:] / temperature, dim=-1)
            distill = nn.functional.kl_div(log_p, q, reduction="batchmean") * temperature**2
            return recommendation + weight * distill

        return loss


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
