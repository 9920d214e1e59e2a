"""Update methods: their declarations (base.py) and their training recipes."""

from raie.strategies.base import RAIE, UpdateStrategy, build_strategy, lines, register_strategy, strategy_names

__all__ = ["RAIE", "UpdateStrategy", "build_strategy", "lines", "register_strategy", "strategy_names"]
