"""The slice's guard on region adapters: promote them only when the routed model does not lose on validation.

A region's own validation windows are too few to judge its adapter (tens of
windows), so the guard judges the slice's region adapters together, the way
they serve: the routed model with the versions just trained against the
routed model with the versions that served before (on the global adapter
this slice trained). When the new versions score lower Recall@10 on the
slice's pooled validation windows, every region keeps its previous version,
or none (the global adapter serves it). Ties promote the new versions: they
have seen the newer data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raie.adapters.routed import region_adapter
from raie.online.prequential import Scorer
from raie.online.state import StepState
from raie.protocol.windows import Windows
from raie.strategies import RAIE


@dataclass(frozen=True)
class GuardDecision:
    promoted: bool
    new_recall: float  # the routed model's validation Recall@10 with the new region versions
    previous_recall: float  # ... with the versions live before the slice
    live: dict[str, int]  # what serves after the slice


def guard_regions(
    before: dict[str, int],
    trained: dict[str, int],
    after: StepState,
    valid: Windows,
    valid_rep: np.ndarray | None,
    scorer: Scorer,
) -> GuardDecision:
    """``trained``: the live versions after the slice's jobs; ``before``: those before the slice.
    ``after``: the state after the slice with ``trained`` live (its bank routes both). ``scorer``:
    the one that scores the slices, so its loaded adapters are reused."""
    regions = {region_adapter(int(r)) for r in after.bank.ids.tolist()}
    changed = {name for name in regions if trained.get(name) != before.get(name)}
    if not changed or len(valid) == 0:
        return GuardDecision(True, float("nan"), float("nan"), trained)
    previous = {name: version for name, version in trained.items() if name not in changed}
    previous |= {name: before[name] for name in changed if name in before}
    recalls = [
        scorer.score(_with_live(after, live), valid, valid_rep, (RAIE,))[0].ranking.recall()
        for live in (trained, previous)
    ]
    promoted = recalls[0] >= recalls[1]
    return GuardDecision(promoted, recalls[0], recalls[1], trained if promoted else previous)


def _with_live(state: StepState, live: dict[str, int]) -> StepState:
    return StepState(state.closed_slices, state.setup_model, state.bank, state.memory, live)
