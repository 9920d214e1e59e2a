"""The update-strategy contract and registry.

A strategy takes the Set-up model and the protocol's data and returns the
model that will score S and T. It must not modify the Set-up model: every
strategy of a seed starts from the same one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch

from raie.backbones.base import SequentialRecommender
from raie.config import ExperimentConfig
from raie.protocol.blocks import ProtocolData


@dataclass(frozen=True)
class StrategyContext:
    config: ExperimentConfig
    data: ProtocolData
    device: torch.device
    seed: int


class UpdateStrategy(ABC):
    name: str = ""

    @abstractmethod
    def update(self, setup_model: SequentialRecommender, context: StrategyContext) -> SequentialRecommender:
        """Adapt to the Fine-tune block; return the model that scores S and T."""


_STRATEGIES: dict[str, Callable[[], UpdateStrategy]] = {}


def register_strategy(name: str) -> Callable[[type[UpdateStrategy]], type[UpdateStrategy]]:
    def decorate(cls: type[UpdateStrategy]) -> type[UpdateStrategy]:
        cls.name = name
        _STRATEGIES[name] = cls
        return cls

    return decorate


def strategy_names() -> list[str]:
    _import_builtin_strategies()
    return sorted(_STRATEGIES)


def build_strategy(name: str) -> UpdateStrategy:
    _import_builtin_strategies()
    if name not in _STRATEGIES:
        raise ValueError(f"unknown method '{name}'; choose from {sorted(_STRATEGIES)}")
    return _STRATEGIES[name]()


def _import_builtin_strategies() -> None:
    # Lazy, so the registry can be imported without torch-heavy strategy modules.
    from raie.strategies import global_lora  # noqa: F401
