"""LoRA on a backbone through peft's support for custom torch modules.

peft injects adapters into any ``nn.Linear`` whose name matches the
backbone's ``lora_target_modules``; the base weights stay frozen. Adapters
are saved by peft as safetensors (never pickles).
"""

from __future__ import annotations

import copy
import typing

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import LoraModel, PeftModel, get_peft_model

from raie.backbones.base import SequentialRecommender
from raie.config import LoraConfig

GLOBAL_ADAPTER = "global"
"""Name of the single adapter the global strategies train."""


def peft_lora_config(backbone: SequentialRecommender, config: LoraConfig) -> PeftLoraConfig:
    targets = list(backbone.lora_target_modules)
    if config.item_embeddings:
        targets += backbone.item_embedding_modules
    return PeftLoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=targets,
        bias="none",
    )


def with_lora(backbone: SequentialRecommender, config: LoraConfig, adapter: str = GLOBAL_ADAPTER) -> PeftModel:
    """A LoRA-wrapped *copy* of the backbone; the original stays untouched."""
    return get_peft_model(copy.deepcopy(backbone), peft_lora_config(backbone, config), adapter_name=adapter)


def adapted_backbone(model: PeftModel) -> SequentialRecommender:
    """The backbone inside a peft wrapper; its injected LoRA layers apply the active adapter."""
    backbone = model.get_base_model()
    assert isinstance(backbone, SequentialRecommender)
    return backbone


def add_adapter(model: PeftModel, name: str, config: LoraConfig, *, init_from: str | None = None) -> None:
    """Add a LoRA adapter beside the existing ones on the same backbone.

    With ``init_from`` the new adapter starts as a copy of that adapter's
    weights; otherwise peft's initialisation makes it a zero delta (B = 0),
    so it starts as the Set-up model.
    """
    model.add_adapter(name, peft_lora_config(adapted_backbone(model), config))
    if init_from is not None:
        copy_adapter(model, init_from, name)


def copy_adapter(model: PeftModel, source: str, target: str) -> None:
    """Overwrite ``target``'s LoRA weights with ``source``'s (same shapes by construction)."""
    parameters = dict(model.named_parameters())
    source_part, target_part = f".{source}.", f".{target}."
    with torch.no_grad():
        for name, parameter in parameters.items():
            if source_part in name:
                parameters[name.replace(source_part, target_part)].copy_(parameter)


def activate(model: PeftModel, adapters: tuple[str, ...], *, trainable: str | None = None) -> None:
    """Make ``adapters`` active together (their deltas add up); only ``trainable`` keeps gradients.

    A residual region adapter runs stacked on the global one: ``("global", "region_3")``.
    peft marks every activated adapter trainable, so the others are frozen again here."""
    if len(adapters) == 1:
        model.set_adapter(adapters[0])
    else:
        tuner = typing.cast(LoraModel, model.base_model)
        tuner.set_adapter(list(adapters))
    for name, parameter in model.named_parameters():
        owner = next((a for a in adapters if f".{a}." in name), None)
        if owner is not None:
            parameter.requires_grad_(owner == (trainable or adapters[-1]))
