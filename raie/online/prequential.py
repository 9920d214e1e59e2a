"""Prequential evaluation: each slice is scored before anything learns from it.

When a slice closes, its evaluation windows (the protocol's ``eval`` role:
right-aligned with the evaluation stride) are ranked with what served while
the slice was happening: the bank and the adapter versions live after the
previous slice. Only then does the slice edit regions and train. With
cutoffs 0.5/0.8 the slices are S, F and T, so slice 2's ``raie`` scores are
the offline runner's T scores: the same Set-up model, bank and adapters,
rank the same windows in the same batches.

Other methods are scored beside it on the same windows, from one peft model
holding every live adapter:

- ``raie``: routed, each window by its region's live adapter (global below tau_infer);
- ``raie-wo-kr``: the live global adapter for every window (the paper's w/o KR
  ablation: editing runs, one adapter serves);
- ``base``: the frozen Set-up model, never updated;
- ``lora``, ``replay``, ``lwf``: the trained baselines, each with its own
  adapter (``baseline_<method>``), continued on every slice by a job of its own
  (raie/strategies/global_lora.py); until its first version, the Set-up model.

The first three cost one ranking pass each and are scored by default; the
trained baselines add a training job per slice each, so they are opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from raie.adapters import AdapterRegistry
from raie.adapters.live import LiveAdapters
from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, adapted_backbone
from raie.config import ExperimentConfig
from raie.errors import ConfigError
from raie.evaluation import Ranking, rank_windows
from raie.online.artifacts import SessionState
from raie.online.candidates import Candidate
from raie.protocol.windows import Windows
from raie.recording import Row
from raie.regions.router import Router
from raie.strategies.global_lora import TRAINED_BASELINES, baseline_adapter

RAIE_METHOD = "raie"
DEFAULT_METHODS = (RAIE_METHOD, "raie-wo-kr", "base")
"""Scored unless told otherwise: they need nothing but RAIE's own state."""
SCORED_METHODS = (*DEFAULT_METHODS, *TRAINED_BASELINES)
"""Every method a stream can score."""


def check_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """``methods`` if each is scorable on the stream and ``raie`` is among them."""
    unknown = [m for m in methods if m not in SCORED_METHODS]
    if unknown or RAIE_METHOD not in methods:
        raise ConfigError(
            "score_methods",
            f"{list(methods)} is not a set of stream methods",
            f"list {RAIE_METHOD!r} and any of {list(SCORED_METHODS[1:])} (comma-separated)",
        )
    return methods


@dataclass(frozen=True)
class MethodScores:
    """One method's prequential result for one slice, as store rows."""

    method: str
    windows: list[Row]
    metrics: list[Row]


def metric_rows(slice_index: int, ranking: Ranking) -> list[Row]:
    """``metrics`` rows: every metric, K and average of the one metrics module; none for no windows."""
    if len(ranking.ranks) == 0:
        return []
    n = len(ranking.ranks)
    return [
        {"slice": slice_index, "metric": v.metric, "k": v.k, "average": v.average, "value": v.value, "n": n}
        for v in ranking.summary()
    ]


@dataclass
class PrequentialScorer:
    config: ExperimentConfig
    registry: AdapterRegistry
    device: torch.device
    methods: tuple[str, ...] = SCORED_METHODS
    _live: LiveAdapters | None = field(default=None, repr=False)

    def score(
        self, slice_index: int, state: SessionState, candidates: list[Candidate], windows: Windows, x: np.ndarray | None
    ) -> list[MethodScores]:
        """Rank ``windows`` (made from ``candidates``; ``x`` their frozen representations) per method."""
        live = self._live_adapters(state.setup_model)
        live.swap(state.live)
        router = Router(state.setup_model, state.bank, self.config.regions)
        if x is None:
            x = router.represent_windows(windows, self.device)
        routed = live.recommender(router)
        served = router.serving(x)
        routes = router.routes(x)
        adapted = adapted_backbone(live.model)
        models: dict[str, SequentialRecommender] = {
            RAIE_METHOD: routed,
            "raie-wo-kr": adapted,
            "base": state.setup_model,
        }
        # A trained baseline before its first version is the Set-up model, as a fresh LoRA is.
        adapter_of = {m: baseline_adapter(m) for m in TRAINED_BASELINES if baseline_adapter(m) in live.versions}
        models |= {m: adapted if m in adapter_of else state.setup_model for m in TRAINED_BASELINES}
        per_window: dict[str, dict[str, list[object]]] = {
            RAIE_METHOD: {
                "region_id": served.tolist(),
                "p1": routes.p1.tolist(),
                "p2": routes.p2.tolist(),
                "adapter": list(routed.adapters_for(served)),
            },
            "raie-wo-kr": {"adapter": [GLOBAL_ADAPTER] * len(windows)},
            "base": {},
        }
        per_window |= {
            m: {"adapter": [adapter_of[m]] * len(windows)} if m in adapter_of else {} for m in TRAINED_BASELINES
        }
        results = []
        for method in self.methods:
            # The adapter a plain (unrouted) forward uses: a baseline's own, else the global one.
            live.model.set_adapter(adapter_of.get(method, GLOBAL_ADAPTER))
            ranking = rank_windows(models[method], windows, batch_size=self.config.eval_batch_size, device=self.device)
            rows = _window_rows(slice_index, candidates, ranking, per_window[method])
            results.append(MethodScores(method, rows, metric_rows(slice_index, ranking)))
        live.model.set_adapter(GLOBAL_ADAPTER)
        return results

    def _live_adapters(self, setup_model: SequentialRecommender) -> LiveAdapters:
        # A resumed session loads a new Set-up model object: wrap that one.
        if self._live is None or self._live.setup_model is not setup_model:
            self._live = LiveAdapters(self.registry, setup_model, self.config.lora, self.device)
        return self._live


def window_row(slice_index: int, role: str, candidate: Candidate) -> Row:
    """The columns every ``windows`` row has: which window, in which role."""
    c = candidate
    return {"slice": slice_index, "role": role, "user_id": c.user_id, "position": c.position, "ts_ms": c.ts_ms}


def _window_rows(
    slice_index: int, candidates: list[Candidate], ranking: Ranking, extra: dict[str, list[object]]
) -> list[Row]:
    ranks = ranking.ranks.tolist()
    return [
        window_row(slice_index, "eval", c) | {"rank": ranks[i]} | {name: values[i] for name, values in extra.items()}
        for i, c in enumerate(candidates)
    ]
