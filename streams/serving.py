"""What the stream serves with: the frozen Set-up model, the latest bank and the live adapters.

Loaded from the store's artifacts at start (a restarted worker resumes with
them) and refreshed when the editor announces a new slice on ``adapters``:
the bank is replaced and only the adapters whose live version changed are
loaded into the serving model, in place (:class:`raie.adapters.live.LiveAdapters`).
"""

from __future__ import annotations

import asyncio
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

    async def embed(self, contexts: list[tuple[str, ...]]) -> np.ndarray:
        """[B, H] frozen representations, computed off the event loop on the model's device."""
        assert self.state is not None
        state = self.state
        batch = torch.from_numpy(encode_contexts(contexts, state.vocabulary, self.config.protocol.context_len))
        return await asyncio.get_running_loop().run_in_executor(None, represent, state.setup_model, batch)

    def route(self, representations: np.ndarray) -> tuple[Routes, np.ndarray, int]:
        """Routes, the region id of each row, and the bank version they were computed with."""
        assert self.state is not None
        router = Router(self.state.setup_model, self.state.bank, self.config.regions)
        routes = router.routes(representations)
        return routes, self.state.bank.ids[routes.top], self.state.closed_slices
