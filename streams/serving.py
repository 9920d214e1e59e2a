"""What the stream serves with: the frozen Set-up model, the latest bank and the live adapters.

Loaded from the store's artifacts at start (a restarted worker resumes with
them) and refreshed when the editor announces a new slice on ``adapters``:
the bank is replaced and only the adapters whose live version changed are
loaded into the serving model, in place (:class:`raie.adapters.live.LiveAdapters`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from raie.adapters.live import LiveAdapters
from raie.adapters.routed import RoutedRecommender
from raie.config import ExperimentConfig
from raie.online.artifacts import Artifacts, SessionState
from raie.online.candidates import encode_contexts
from raie.regions.router import Router, represent
from raie.regions.routing import Routes


@dataclass
class ServingState:
    artifacts: Artifacts
    backbone: str
    config: ExperimentConfig
    device: torch.device  # the worker's one device: the Set-up model and every adapter live there
    state: SessionState | None = None
    adapters: LiveAdapters | None = None

    def refresh(self) -> None:
        """Load the state after the last closed slice, if it is newer than the one held."""
        if self.state is not None and self.artifacts.closed_slices() <= self.state.closed_slices:
            return
        loaded = self.artifacts.load(self.backbone, self.config, self.device)
        if loaded is not None:
            self.state = loaded

    def recommender(self) -> RoutedRecommender:
        """Routed inference with the live adapters, swapped in place to the state's versions."""
        assert self.state is not None
        if self.adapters is None or self.adapters.setup_model is not self.state.setup_model:
            self.adapters = LiveAdapters(self.artifacts.registry, self.state.setup_model, self.config.lora, self.device)
        self.adapters.swap(self.state.live)
        return self.adapters.recommender(Router(self.state.setup_model, self.state.bank, self.config.regions))


def represent_contexts(state: SessionState, config: ExperimentConfig, contexts: list[tuple[str, ...]]) -> np.ndarray:
    """[B, H] frozen representations of ``contexts`` by ``state``'s Set-up model, on its device.
    Synchronous: the ingress runs it in a worker thread, off the event loop."""
    batch = torch.from_numpy(encode_contexts(contexts, state.vocabulary, config.protocol.context_len))
    return represent(state.setup_model, batch)


def route_representations(state: SessionState, config: ExperimentConfig, reps: np.ndarray) -> tuple[Routes, np.ndarray]:
    """Routes by ``state``'s bank, and the region id of each row."""
    routes = Router(state.setup_model, state.bank, config.regions).routes(reps)
    return routes, state.bank.ids[routes.top]
