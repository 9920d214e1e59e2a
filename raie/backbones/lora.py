"""LoRA on a backbone through peft's support for custom torch modules.

peft injects adapters into any ``nn.Linear`` whose name matches the
backbone's ``lora_target_modules``; the base weights stay frozen. Adapters
are saved by peft as safetensors (never pickles).
"""

from __future__ import annotations

import copy

from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model

from raie.backbones.base import SequentialRecommender
from raie.config import LoraConfig

GLOBAL_ADAPTER = "global"
"""Name of the single adapter the global strategies train."""


def peft_lora_config(backbone: SequentialRecommender, config: LoraConfig) -> PeftLoraConfig:
    return PeftLoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(backbone.lora_target_modules),
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
