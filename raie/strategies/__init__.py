"""Update strategies, registered by name (``--methods base,lora,...``)."""

from raie.strategies.base import StrategyContext, UpdateStrategy, build_strategy, register_strategy, strategy_names

__all__ = ["StrategyContext", "UpdateStrategy", "build_strategy", "register_strategy", "strategy_names"]
