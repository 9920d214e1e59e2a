"""The update-strategy contract and registry.

A strategy takes the Set-up model and the protocol's data and returns the
model that will score S and T. It must not modify the Set-up model: every
strategy of a seed starts from the same one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from raie.backbones.base import SequentialRecommender
from raie.config import ExperimentConfig
from raie.protocol.blocks import ProtocolData
from raie.recording import MemoryRecorder, Recorder
from raie.registry import Registry


@dataclass(frozen=True)
class StrategyContext:
    config: ExperimentConfig
    data: ProtocolData
    device: torch.device
    seed: int
    recorder: Recorder = field(default_factory=MemoryRecorder)
    """Where the strategy puts what it did (store rows); the runner writes them out."""


class UpdateStrategy(ABC):
    name: str = ""

    @abstractmethod
    def update(self, setup_model: SequentialRecommender, context: StrategyContext) -> SequentialRecommender:
        """Adapt to the Fine-tune block; return the model that scores S and T."""


STRATEGIES: Registry[type[UpdateStrategy]] = Registry("method", ("raie.strategies.global_lora", "raie.strategies.raie"))
strategy_names = STRATEGIES.names


def register_strategy(name: str) -> Callable[[type[UpdateStrategy]], type[UpdateStrategy]]:
    def decorate(cls: type[UpdateStrategy]) -> type[UpdateStrategy]:
        cls.name = name
        return STRATEGIES.register(name)(cls)

    return decorate


def build_strategy(name: str) -> UpdateStrategy:
    return STRATEGIES.get(name)()
