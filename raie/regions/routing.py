"""Routing: how confident the bank is that a representation belongs to each region.

Two confidence rules, chosen by ``RegionConfig.confidence``:

- ``"radius"`` (default): radius-aware. Region k scores
  z_k = (1 - d_k / R_k) / T, where d_k is the angle to its centre and R_k its
  radius, so z_k > 0 inside the region and < 0 outside. A constant
  "outside" score z_0 = 0 (exactly on a boundary) joins the softmax. A point
  deep inside one region gets p1 near 1 (Update); a point near its region's
  boundary, or between two regions, gets p2 close to p1 (Expand); a point
  outside every region gets its mass on "outside" and a low p1 (Add). All
  three operations are reachable by construction.
- ``"softmax"``: the paper's plain p = softmax(c_k . x / T) over regions. It
  ignores radii, so "far from every region" and "equally near all of them"
  look alike; kept for comparison with the paper's formula.

p1 is the top region's confidence and p2 the runner-up among the other
regions and (for "radius") "outside"; delta = p1 - p2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from raie.regions.geometry import cosine_to_angle

MIN_RADIUS = 1e-3
"""Radians; keeps d / R finite for a region whose members all coincide."""


@dataclass(frozen=True)
class Routes:
    """Vectorised routing of N representations against K regions."""

    confidence: np.ndarray  # float64 [N, K]: p_k for every region
    distance: np.ndarray  # float64 [N, K]: angle to every centre, radians
    top: np.ndarray  # int64 [N]: index (not id) of the most confident region
    p1: np.ndarray  # float64 [N]
    p2: np.ndarray  # float64 [N]

    @property
    def delta(self) -> np.ndarray:
        gap: np.ndarray = self.p1 - self.p2
        return gap

    def __len__(self) -> int:
        return len(self.top)


ConfidenceRule = Callable[[np.ndarray, np.ndarray, np.ndarray, float], tuple[np.ndarray, np.ndarray]]
"""(cosine [N, K], angle [N, K], radius [K], temperature) -> (region confidences [N, K], "outside" [N])."""


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probability: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return probability


def radius_confidence(
    cosine: np.ndarray, angle: np.ndarray, radius: np.ndarray, temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    ratio = angle / np.maximum(radius, MIN_RADIUS)
    logits = np.concatenate([np.zeros((len(cosine), 1)), (1.0 - ratio) / temperature], axis=1)
    p = _softmax(logits)
    return p[:, 1:], p[:, 0]


def softmax_confidence(
    cosine: np.ndarray, angle: np.ndarray, radius: np.ndarray, temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    return _softmax(cosine.astype(np.float64) / temperature), np.zeros(len(cosine))


CONFIDENCE_RULES: dict[str, ConfidenceRule] = {"radius": radius_confidence, "softmax": softmax_confidence}


def route(x: np.ndarray, centres: np.ndarray, radius: np.ndarray, rule: str, temperature: float) -> Routes:
    """Route unit rows ``x`` [N, H] to regions with unit ``centres`` [K, H]."""
    cosine = x @ centres.T
    angle = cosine_to_angle(cosine)
    confidence, outside = CONFIDENCE_RULES[rule](cosine, angle, radius, temperature)
    n, k = confidence.shape
    rows = np.arange(n)
    if k == 0:
        empty = np.zeros(n)
        return Routes(confidence, angle, np.full(n, -1, dtype=np.int64), empty, outside)
    top = confidence.argmax(axis=1)
    p1 = confidence[rows, top]
    if k > 1:
        second = np.partition(confidence, k - 2, axis=1)[:, k - 2]
        p2 = np.maximum(second, outside)
    else:
        p2 = outside
    return Routes(confidence, angle, top.astype(np.int64), p1, p2)
