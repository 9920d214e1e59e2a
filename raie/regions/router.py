"""The router: frozen Set-up representations of contexts, matched to regions.

This is where the numpy region engine meets the torch backbone. The encoder
is the Set-up model, never fine-tuned, and it only sees the context, so a
window's route can neither drift with training nor depend on its target.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
import torch

from raie.backbones.base import SequentialRecommender
from raie.config import RegionConfig
from raie.protocol.windows import Windows
from raie.regions.bank import RegionBank
from raie.regions.routing import Routes

FALLBACK = -1
"""Region id of windows served by the global adapter."""

ENCODE_BATCH = 2048
"""Windows per forward pass when encoding; memory stays small on CPU."""


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s weights are: every batch for it is moved there first."""
    return next(model.parameters()).device


@torch.inference_mode()
def represent(encoder: SequentialRecommender, context: torch.Tensor) -> np.ndarray:
    """[B, L] contexts (on any device) -> [B, H] unit representations (float32, CPU) of the frozen encoder."""
    if encoder.training:  # switching walks every module: a tenth of a small batch's cost, so only when needed
        encoder.eval()
        try:
            return represent(encoder, context)
        finally:
            encoder.train()
    return encoder.representation(context.to(model_device(encoder))).float().cpu().numpy()


def represent_windows(encoder: SequentialRecommender, windows: Windows, device: torch.device) -> np.ndarray:
    parts = [
        represent(encoder, torch.from_numpy(windows.context[start : start + ENCODE_BATCH]).to(device))
        for start in range(0, len(windows), ENCODE_BATCH)
    ]
    if parts:
        return np.concatenate(parts)
    return represent(encoder, torch.from_numpy(windows.context[:1]).to(device))[:0]


@dataclass
class Router:
    encoder: SequentialRecommender
    bank: RegionBank
    config: RegionConfig

    def represent(self, context: torch.Tensor) -> np.ndarray:
        return represent(self.encoder, context)

    async def represent_async(self, context: torch.Tensor) -> np.ndarray:
        """The same, run in the default executor so an event loop (the stream's agent) never blocks on it."""
        return await asyncio.get_running_loop().run_in_executor(None, self.represent, context)

    def represent_windows(self, windows: Windows, device: torch.device) -> np.ndarray:
        return represent_windows(self.encoder, windows, device)

    def routes(self, x: np.ndarray) -> Routes:
        return self.bank.route(x, rule=self.config.confidence, temperature=self.config.temperature)

    def nearest(self, x: np.ndarray) -> np.ndarray:
        """Id of the most confident region of each row (no fallback): who owns the sample."""
        owners: np.ndarray = self.bank.ids[self.routes(x).top]
        return owners

    def serving(self, x: np.ndarray) -> np.ndarray:
        """Id of the region whose adapter serves each row; FALLBACK below tau_infer."""
        return self.serving_of(self.routes(x))

    def serving_of(self, routes: Routes) -> np.ndarray:
        """:meth:`serving` for routes already computed (a caller that also reports them)."""
        ids = self.bank.ids[routes.top]
        return np.where(routes.p1 >= self.config.tau_infer, ids, FALLBACK)
