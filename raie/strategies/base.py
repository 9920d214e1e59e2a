"""The update methods: what each one trains in a slice and which model scores for it.

Every method runs through the one slice step (raie/online/step.py), offline and
on the stream alike. A method declares:

- ``serves``: the model that scores its windows: the frozen Set-up model
  (``setup``), RAIE's global adapter (``global``), RAIE's routed region
  adapters (``routed``), or an adapter of its own that a baseline job trains
  each slice (``baseline``);
- ``retrieves``: whether its scores blend in next items retrieved from the
  slice (``hybrid``, raie/strategies/hybrid.py);
- ``editing``: for RAIE's variants, whether regions are edited each slice
  (Update / Expand / Add) or stay as Set-up built them (the w/o KE ablations).

Methods that read the same RAIE state (one bank, one global adapter, one set
of region adapters) share a *line*: ``raie`` and ``raie-wo-kr`` read the
editing line, ``raie-wo-ke`` and ``raie-wo-all`` the fixed one. The baselines
need nothing from RAIE and join whichever line runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

from raie.registry import Registry

if TYPE_CHECKING:
    from raie.config import ExperimentConfig

Serves = Literal["setup", "global", "routed", "baseline"]

RAIE = "raie"
"""The method the platform is about; the stream always scores it."""


class UpdateStrategy:
    name: str = ""
    serves: ClassVar[Serves]
    editing: ClassVar[bool] = True
    """RAIE variants: regions edited each slice; False keeps Set-up's regions (w/o KE)."""
    retrieves: ClassVar[bool] = False
    """Scores blend the model with next items retrieved from the slice (``hybrid``)."""

    def trains_on(self, slice_index: int, config: ExperimentConfig) -> bool:
        """Whether the method trains on update slice ``slice_index`` (``hybrid``: on a schedule)."""
        return True

    @property
    def uses_raie_state(self) -> bool:
        return self.serves in ("global", "routed")


STRATEGIES: Registry[type[UpdateStrategy]] = Registry(
    "method", ("raie.strategies.global_lora", "raie.strategies.hybrid", "raie.strategies.raie")
)
strategy_names = STRATEGIES.names


def register_strategy(name: str) -> Callable[[type[UpdateStrategy]], type[UpdateStrategy]]:
    def decorate(cls: type[UpdateStrategy]) -> type[UpdateStrategy]:
        cls.name = name
        return STRATEGIES.register(name)(cls)

    return decorate


def build_strategy(name: str) -> UpdateStrategy:
    return STRATEGIES.get(name)()


def lines(methods: Sequence[str]) -> dict[bool, tuple[str, ...]]:
    """The methods grouped by the RAIE line they read (editing: True or False), in the order given.

    Methods that need no RAIE state (base and the baselines) join the editing line, or the
    fixed one when only fixed-region variants were asked for."""
    strategies = [build_strategy(m) for m in methods]
    wanted = {s.editing for s in strategies if s.uses_raie_state}
    home = True in wanted or not wanted
    grouped: dict[bool, list[str]] = {}
    for strategy in strategies:
        line = strategy.editing if strategy.uses_raie_state else home
        grouped.setdefault(line, []).append(strategy.name)
    return {line: tuple(names) for line, names in sorted(grouped.items(), reverse=True)}
