"""Angles on the unit sphere, where every region and representation lives."""

from __future__ import annotations

import numpy as np

EPS = 1e-12
"""Guards the division when a vector is all zeros (it then stays zero)."""


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
