"""The slice's promotion guard: a new adapter version serves only when it does not lose on validation.

At the end of each slice step (raie/online/step.py), offline and on the
stream alike, every adapter whose version the slice changed is judged on the
slice's validation windows (the same windows for both sides), by the model
that serves it, with Recall@10 from the slice's :class:`Scorer`:

- the global adapter: the global adapter alone (what ``raie-wo-kr`` serves)
  with the new version against the version live before the slice, or against
  the Set-up model when none was;
- each trained baseline's adapter: the baseline's model, likewise;
- the region adapters, together: a region's own validation windows are too
  few to judge its adapter (tens of windows), so the routed model (``raie``)
  with the new region versions is scored against the routed model with the
  versions that served before (or none: the global adapter serves).

A new version is promoted when ``new >= previous - promotion.max_regression``;
ties promote, because the new version has seen the newer data. A rejected
version stays in the registry and the previous one (or none) keeps serving.

When the global adapter's new version is rejected, the slice's region versions
are rejected with it, unscored: the region adapters were trained from it
(``regions.init: global``) or on top of it (``residual``: a residual region
adapter only means something stacked on the global version it was trained on).

Adapters whose version did not change are not scored, and the scorer's loaded
adapters are reused, so a slice pays two validation passes per changed adapter
(one for all its regions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from raie.adapters.routed import region_adapter
from raie.backbones.lora import GLOBAL_ADAPTER
from raie.config import PromotionConfig
from raie.online.prequential import Scorer
from raie.online.slice_training import PROMOTED, REJECTED, PromotionDecision
from raie.online.state import StepState
from raie.protocol.windows import Windows
from raie.regions.router import FALLBACK
from raie.strategies import RAIE
from raie.strategies.global_lora import TRAINED_BASELINES, baseline_adapter

GLOBAL_ALONE = "raie-wo-kr"
"""The method that serves the global adapter alone."""
SETUP_MODEL = "base"
"""The method that serves the Set-up model: the global adapter's judge when no version served
before (scored directly, not as an absent adapter, whose weights a loaded model may still hold)."""
BASELINE_METHODS = {baseline_adapter(method): method for method in TRAINED_BASELINES}


@dataclass(frozen=True)
class Promotion:
    live: dict[str, int]  # what serves after the slice
    decisions: list[PromotionDecision]


@dataclass(frozen=True)
class _Judge:
    """What one slice's decisions share: the windows they are scored on, the scorer, the tolerance."""

    after: StepState  # the state after the slice; its ``live`` is replaced per comparison
    valid: Windows
    valid_rep: np.ndarray | None
    scorer: Scorer
    max_regression: float
    earlier: tuple[Windows, np.ndarray] | None = None  # the slice's training windows, for retrieval

    @property
    def slice(self) -> int:
        return self.after.closed_slices - 1

    def recall(self, live: dict[str, int], method: str) -> float:
        state = replace(self.after, live=live)
        return self.scorer.score(state, self.valid, self.valid_rep, (method,), self.earlier)[0].ranking.recall()

    def decide(
        self,
        adapter: str,
        region_id: int,
        method: str,
        versions: tuple[int, int | None],
        recalls: tuple[float, float] | None,
        note: str = "",
    ) -> PromotionDecision:
        """``versions``: candidate and previous; ``recalls``: theirs, None when not scored (promoted)."""
        if recalls is None:
            reason = "no validation windows: promoted unjudged"
            return self._decision(adapter, region_id, method, versions, (None, None), PROMOTED, reason)
        new, old = recalls
        promoted = new >= old - self.max_regression
        reason = f"valid R@10 {new:.4f} {'>=' if promoted else '<'} {old:.4f} - {self.max_regression:.4f}{note}"
        return self._decision(adapter, region_id, method, versions, recalls, PROMOTED if promoted else REJECTED, reason)

    def reject(self, adapter: str, region_id: int, versions: tuple[int, int | None], reason: str) -> PromotionDecision:
        return self._decision(adapter, region_id, RAIE, versions, (None, None), REJECTED, reason)

    def _decision(
        self,
        adapter: str,
        region_id: int,
        method: str,
        versions: tuple[int, int | None],
        recalls: tuple[float | None, float | None],
        verdict: str,
        reason: str,
    ) -> PromotionDecision:
        return PromotionDecision(
            self.slice,
            adapter,
            region_id,
            method,
            versions[0],
            versions[1],
            recalls[0],
            recalls[1],
            self.max_regression,
            verdict,
            reason,
            int(time.time() * 1000),
        )


def guard_promotions(
    before: dict[str, int],
    after: StepState,
    valid: Windows,
    valid_rep: np.ndarray | None,
    scorer: Scorer,
    config: PromotionConfig,
    earlier: tuple[Windows, np.ndarray] | None = None,
) -> Promotion:
    """Decide which of the slice's new adapter versions serve.

    ``before``: the live versions before the slice; ``after``: the state after the slice with
    every new version live (its bank routes the regions). ``scorer``: the one that scores the
    slices, so its loaded adapters are reused. ``earlier``: the slice's training windows and their
    representations, which ``hybrid``'s retrieval draws on beside the validation windows."""
    judge = _Judge(after, valid, valid_rep, scorer, config.max_regression, earlier)
    live = dict(after.live)
    decisions: list[PromotionDecision] = []
    changed = [name for name in sorted(live) if live[name] != before.get(name)]
    for adapter in (GLOBAL_ADAPTER, *sorted(BASELINE_METHODS)):
        if adapter in changed:
            decision = _single(judge, adapter, live, before.get(adapter))
            decisions.append(decision)
            if not decision.promoted:
                _revert(live, before, [adapter])
    global_rejected = any(d.adapter == GLOBAL_ADAPTER and not d.promoted for d in decisions)
    regions = {region_adapter(int(r)): int(r) for r in after.bank.ids.tolist()}
    new_regions = [name for name in changed if name in regions]
    if new_regions:
        if global_rejected:
            why = f"global version {after.live[GLOBAL_ADAPTER]} was rejected, and this version was trained from it"
            region_decisions = [
                judge.reject(name, regions[name], (live[name], before.get(name)), why) for name in new_regions
            ]
        else:
            region_decisions = _regions(judge, live, before, new_regions, regions)
        decisions += region_decisions
        if not all(d.promoted for d in region_decisions):
            _revert(live, before, new_regions)
    return Promotion(live, decisions)


def _single(judge: _Judge, adapter: str, live: dict[str, int], previous: int | None) -> PromotionDecision:
    """The global adapter or a baseline's: the model that serves it, new version against previous."""
    method = BASELINE_METHODS.get(adapter, RAIE)
    serving = GLOBAL_ALONE if adapter == GLOBAL_ADAPTER else method
    versions = (live[adapter], previous)
    if len(judge.valid) == 0:
        return judge.decide(adapter, FALLBACK, method, versions, None)
    new = judge.recall(live, serving)
    if previous is None:
        old = judge.recall(live, SETUP_MODEL)
        return judge.decide(adapter, FALLBACK, method, versions, (new, old), " (before: the Set-up model)")
    old = judge.recall(live | {adapter: previous}, serving)
    return judge.decide(adapter, FALLBACK, method, versions, (new, old))


def _regions(
    judge: _Judge, live: dict[str, int], before: dict[str, int], new: list[str], regions: dict[str, int]
) -> list[PromotionDecision]:
    """Every new region version, judged together through the routed model (one pair of passes)."""
    recalls = None
    if len(judge.valid):
        previous = dict(live)
        _revert(previous, before, new)
        recalls = (judge.recall(live, RAIE), judge.recall(previous, RAIE))
    note = " (routed, all new region versions together)"
    return [judge.decide(name, regions[name], RAIE, (live[name], before.get(name)), recalls, note) for name in new]


def _revert(live: dict[str, int], before: dict[str, int], adapters: list[str]) -> None:
    """Give ``adapters`` back the versions that served before the slice (or none)."""
    for name in adapters:
        if name in before:
            live[name] = before[name]
        else:
            live.pop(name, None)
