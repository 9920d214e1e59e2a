"""Generated points on the unit sphere with known geometry, for region tests."""

from __future__ import annotations

import numpy as np


def around(
    centre: np.ndarray, angle_deg: float, n: int, rng: np.random.Generator, jitter_deg: float = 0.0
) -> np.ndarray:
    """``n`` unit vectors at ``angle_deg`` (plus uniform jitter) from ``centre``, in random directions."""
    centre = centre / np.linalg.norm(centre)
    directions = rng.normal(size=(n, len(centre)))
    directions -= np.outer(directions @ centre, centre)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    angles = np.deg2rad(angle_deg + rng.uniform(-jitter_deg, jitter_deg, size=n))[:, None]
    points: np.ndarray = (np.cos(angles) * centre + np.sin(angles) * directions).astype(np.float32)
    return points


def axis(dim: int, i: int) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def three_clusters(rng: np.random.Generator, dim: int = 8, n: int = 200, spread_deg: float = 20.0) -> np.ndarray:
    """Three well-separated clusters around the first three axes."""
    return np.concatenate([around(axis(dim, i), spread_deg, n, rng, jitter_deg=spread_deg) for i in range(3)])
