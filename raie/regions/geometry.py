"""Angles on the unit sphere, where every region and representation lives.

Also the two per-sample updates of a region (docs/METHOD.md section 3): its centre
is the running mean of its members' directions and its radius tracks the
``radius_quantile`` of their angles, both weighted by the member count, so a
region stays the summary of every member since it was built.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12
"""Guards the division when a vector is all zeros (it then stays zero)."""

QUANTILE_GAIN = 3.0
"""Scale of the radius tracker's step, relative to the radius. Robbins-Monro with step
c / n converges at the usual 1 / sqrt(n) rate only when c * f(R) > 1/2 (f: the density
of distances at the quantile R); with c = gain * R that asks gain * R * f(R) > 1/2. At
the 0.9 quantile R * f(R) is 0.23 for an exponential spread, 0.34 for a half-normal and
0.9 for a uniform one, so 3 covers even the long-tailed case; larger gains only add
noise while the count is small (tests/unit/test_region_geometry.py)."""

RADIUS_FLOOR = 1e-3
"""Radians (0.06 degrees). The tracker's step scales with the radius, so a region built
from identical points (radius 0) could never grow; the floor keeps its step alive."""


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    unit: np.ndarray = (x / np.maximum(norm, EPS)).astype(np.float32, copy=False)
    return unit


def cosine_to_angle(cosine: np.ndarray) -> np.ndarray:
    """Angular distance in radians; clipping absorbs float error just outside [-1, 1]."""
    angle: np.ndarray = np.arccos(np.clip(cosine, -1.0, 1.0))
    return angle


def angular_distance(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """[N, H] unit rows x [K, H] unit centres -> [N, K] angles in radians."""
    return cosine_to_angle(x @ centres.T)


def quantile_radius(distances: np.ndarray, quantile: float) -> float:
    """A region's radius: the given quantile of its members' angular distances."""
    return float(np.quantile(distances, quantile)) if len(distances) else 0.0


def absorb_direction(centre: np.ndarray, sample: np.ndarray, count: int) -> np.ndarray:
    """The unit centre after its ``count + 1``-th member: a running mean of unit vectors, renormalised.

    Every member weighs ``1 / (count + 1)``, so a region that absorbs thousands of
    samples still remembers the ``count`` members it was built from (an EMA with a
    fixed rate ``a`` remembers only about ``1 / a``). Renormalising the stored centre
    each time weighs old members by a factor ``1 / |mean|`` (about 1 / cos of their
    typical angle) more than an exact mean would; the direction it converges to is
    the same.
    """
    return normalize(centre + (sample - centre) / (count + 1))


def track_quantile(radius: float, distance: float, count: int, quantile: float, cap: float) -> float:
    """One step of stochastic quantile tracking (Robbins-Monro) towards the ``quantile`` of distances.

    ``R += step * (quantile - 1[distance <= R])`` with ``step = gain * R / (count + 1)``:
    a member outside the radius pushes it out by ``step * quantile``, one inside pulls
    it in by ``step * (1 - quantile)``, so on a stationary stream ``R`` settles where a
    fraction ``quantile`` of members lies inside, which is what a radius is defined as
    (``quantile_radius``). The step shrinks with the count like the centre's weight.
    ``count`` is the members before this one; the result is capped at ``cap`` radians.
    """
    step = QUANTILE_GAIN * max(radius, RADIUS_FLOOR) / (count + 1)
    inside = 1.0 if distance <= radius else 0.0
    return float(min(max(radius + step * (quantile - inside), 0.0), cap))
