"""Scoring a slice step's state: prequential on the stream, S and T offline.

When a slice closes, its evaluation windows (the protocol's ``eval`` role:
right-aligned with the evaluation stride) are ranked with what served while
the slice was happening: the bank and the adapter versions live after the
previous slice. Only then does the slice edit regions and train. With
cutoffs 0.5/0.8 the slices are S, F and T, so slice 2's scores are the
offline runner's T scores: the offline runner scores T with this same
function and the state after F.

Every method is scored from one peft model holding every live adapter, by
what it declares it serves (raie/strategies/base.py):

- ``routed`` (``raie``, ``raie-wo-ke``): each window by its region's live
  adapter (the global one below tau_infer);
- ``global`` (``raie-wo-kr``, ``raie-wo-all``): the live global adapter;
- ``setup`` (``base``): the frozen Set-up model, never updated;
- ``baseline`` (``lora``, ``replay``, ``lwf``, ``hybrid``): the method's own
  adapter (``baseline_<method>``), continued by a job of its own on every slice
  (``hybrid``: on its schedule); until its first version, the Set-up model.
  ``hybrid`` blends in next items retrieved from the scored windows
  themselves, each window seeing only those before it (raie/retrieval.py).

Each score records its wall time (selection, ranking and retrieval), which the
cost table reports per window.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from raie.adapters import AdapterRegistry
from raie.adapters.live import LiveAdapters
from raie.adapters.routed import RoutedRecommender
from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, adapted_backbone
from raie.config import ExperimentConfig
from raie.errors import ConfigError
from raie.evaluation import rank_windows
from raie.online.state import MethodScore, StepState
from raie.protocol.windows import Windows
from raie.regions.router import Router
from raie.retrieval import RetrievalBlend
from raie.strategies import RAIE, build_strategy
from raie.strategies.global_lora import TRAINED_BASELINES, baseline_adapter
from raie.strategies.hybrid import RETRIEVAL_WEIGHT, retrieval_blend

DEFAULT_METHODS = (RAIE, "raie-wo-kr", "base")
"""Scored on the stream unless told otherwise: they need nothing but RAIE's own state."""
SCORED_METHODS = (*DEFAULT_METHODS, *TRAINED_BASELINES)
"""Every method a stream can score: the editing line's (raie/strategies/base.py)."""


def check_methods(methods: tuple[str, ...]) -> tuple[str, ...]:
    """``methods`` if each is scorable on the stream and ``raie`` is among them."""
    unknown = [m for m in methods if m not in SCORED_METHODS]
    if unknown or RAIE not in methods:
        raise ConfigError(
            "score_methods",
            f"{list(methods)} is not a set of stream methods",
            f"list {RAIE!r} and any of {list(SCORED_METHODS[1:])} (comma-separated)",
        )
    return methods


@dataclass
class Scorer:
    config: ExperimentConfig
    registry: AdapterRegistry
    device: torch.device
    _live: LiveAdapters | None = field(default=None, repr=False)

    def score(
        self,
        state: StepState,
        windows: Windows,
        x: np.ndarray | None,
        methods: Sequence[str],
        earlier: tuple[Windows, np.ndarray] | None = None,
    ) -> list[MethodScore]:
        """Rank ``windows`` (``x``: their frozen representations, computed when None) for each method.

        ``earlier``: more windows of the slice (with their representations) that retrieval may
        draw on besides ``windows`` themselves (the promotion guard passes the slice's training
        windows when it scores validation windows, as the hybrid's weight was chosen)."""
        live, router = self._prepare(state)
        if x is None:
            x = router.represent_windows(windows, self.device)
        results = []
        for method in methods:
            started = time.perf_counter()
            model, adapter = self._select(method, live, router)
            blend = self._retrieval(method, live, windows, x, earlier)
            ranking = rank_windows(
                model, windows, batch_size=self.config.eval_batch_size, device=self.device, blend=blend
            )
            served = _served(model, adapter, router, x, len(windows))
            seconds = time.perf_counter() - started
            results.append(MethodScore(method, ranking, seconds=seconds, **served))
        live.model.set_adapter(GLOBAL_ADAPTER)
        return results

    def model_for(self, method: str, state: StepState) -> SequentialRecommender:
        """The model that scores ``method``'s windows in ``state`` (its adapter active)."""
        live, router = self._prepare(state)
        return self._select(method, live, router)[0]

    def _prepare(self, state: StepState) -> tuple[LiveAdapters, Router]:
        live = self._live_adapters(state.setup_model)
        live.swap(state.live)
        return live, Router(state.setup_model, state.bank, self.config.regions)

    @staticmethod
    def _select(method: str, live: LiveAdapters, router: Router) -> tuple[SequentialRecommender, str | None]:
        """``method``'s model, and the adapter a plain (unrouted) forward of it uses, made active
        (None: the Set-up model)."""
        serves = build_strategy(method).serves
        adapter = baseline_adapter(method)
        if serves == "baseline" and adapter in live.versions:
            live.model.set_adapter(adapter)
            return adapted_backbone(live.model), adapter
        live.model.set_adapter(GLOBAL_ADAPTER)
        if serves == "routed":
            return live.recommender(router), GLOBAL_ADAPTER
        if serves == "global":
            return adapted_backbone(live.model), GLOBAL_ADAPTER
        # Base, and a trained baseline before its first version (a fresh LoRA is the Set-up model).
        return live.setup_model, None

    def _retrieval(
        self,
        method: str,
        live: LiveAdapters,
        windows: Windows,
        x: np.ndarray,
        earlier: tuple[Windows, np.ndarray] | None,
    ) -> RetrievalBlend | None:
        """``hybrid``: its live version's blend of next items retrieved from ``windows`` themselves
        and ``earlier`` (the slice's windows, each seeing those before it); None for other
        methods, or before the method's first version."""
        adapter = baseline_adapter(method)
        if not build_strategy(method).retrieves or adapter not in live.versions:
            return None
        metrics = self.registry.get(adapter, live.versions[adapter]).manifest.metrics
        weight = metrics.get(RETRIEVAL_WEIGHT) or 0.0
        index, index_rep = windows, x
        if earlier is not None:
            index = Windows.concat([earlier[0], windows], self.config.protocol.context_len)
            index_rep = np.concatenate([earlier[1], x])
        return retrieval_blend(self.config, index, index_rep, windows, x, weight)

    def _live_adapters(self, setup_model: SequentialRecommender) -> LiveAdapters:
        # A resumed session loads a new Set-up model object: wrap that one.
        if self._live is None or self._live.setup_model is not setup_model:
            self._live = LiveAdapters(self.registry, setup_model, self.config.lora, self.device)
        return self._live


def _served(model: SequentialRecommender, adapter: str | None, router: Router, x: np.ndarray, n: int) -> dict[str, Any]:
    """What served each window, for the store: region, confidences and adapter when routed, else the adapter."""
    if isinstance(model, RoutedRecommender):
        routes = router.routes(x)
        served = router.serving_of(routes)
        return {
            "region_id": served.tolist(),
            "p1": routes.p1.tolist(),
            "p2": routes.p2.tolist(),
            "adapter": model.adapters_for(served),
        }
    return {} if adapter is None else {"adapter": [adapter] * n}
