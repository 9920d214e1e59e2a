"""What the stream routes and serves with: the frozen Set-up model, the latest bank and the live versions.

Loaded from the store's artifacts at start (a restarted worker resumes with
them), replaced by the editor's state when this worker closes a slice, and
re-read once a second for what another process committed: a slice another
worker closed, or a rollback (``raie adapters rollback``) that changed only
the live versions. The recommendation service (streams/recommendations.py)
loads the adapters these versions name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from raie.config import ExperimentConfig
from raie.online.artifacts import Artifacts, SessionState
from raie.online.candidates import encode_contexts
from raie.regions.router import Router, represent
from raie.regions.routing import Routes

SERVING_REFRESH_S = 1.0
"""How often a worker and its serving process read the store's commit point for a slice another
worker closed or a rollback: a cheap file read, and every process needs it (a group agent on
``adapters`` would reach only one)."""


@dataclass
class ServingState:
    artifacts: Artifacts
    backbone: str
    config: ExperimentConfig
    device: torch.device  # the worker's one device: the Set-up model and every adapter live there
    state: SessionState | None = None

    def refresh(self) -> None:
        """Load the state after the last closed slice if it is newer than the one held; take the
        committed live versions if only they changed (a rollback)."""
        closed, live = self.artifacts.committed()  # one read: both from the same state.json
        if self.state is None or closed > self.state.closed_slices:
            loaded = self.artifacts.load(self.backbone, self.config, self.device)
            if loaded is not None:
                self.state = loaded
            return
        if closed == self.state.closed_slices and live != self.state.live:
            self.state = SessionState(self.state.vocabulary, replace(self.state.step, live=live))


def represent_contexts(state: SessionState, config: ExperimentConfig, contexts: list[tuple[str, ...]]) -> np.ndarray:
    """[B, H] frozen representations of ``contexts`` by ``state``'s Set-up model, on its device.
    Synchronous: the ingress runs it in a worker thread, off the event loop."""
    batch = torch.from_numpy(encode_contexts(contexts, state.vocabulary, config.protocol.context_len))
    return represent(state.setup_model, batch)


def route_representations(state: SessionState, config: ExperimentConfig, reps: np.ndarray) -> tuple[Routes, np.ndarray]:
    """Routes by ``state``'s bank, and the region id of each row."""
    routes = Router(state.setup_model, state.bank, config.regions).routes(reps)
    return routes, state.bank.ids[routes.top]
