"""Spherical k-means (Dhillon & Modha, 2001): k-means under cosine similarity.

Centres are unit vectors; each point joins the centre it has the largest
cosine with, and each centre becomes the normalised mean of its members.
Fully vectorised with numpy, seeded, and robust to empty clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raie.regions.geometry import normalize

MAX_ITERATIONS = 100
"""Lloyd iterations per restart; assignments settle far sooner on real data."""

TOLERANCE = 1e-6
"""Stop a restart once the mean cosine gains less than this."""


@dataclass(frozen=True)
class Clustering:
    centres: np.ndarray  # float32 [k, H], unit rows
    labels: np.ndarray  # int64 [N]
    mean_cosine: float  # mean cosine of points to their centres: the objective, higher is better


def spherical_kmeans(x: np.ndarray, k: int, *, seed: int, restarts: int = 4) -> Clustering:
    """Cluster unit rows of ``x`` into ``k`` groups; the best of ``restarts`` wins.

    Raises ValueError when there are fewer points than clusters.
    """
    x = normalize(x)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(x) < k:
        raise ValueError(f"cannot form {k} clusters from {len(x)} points")
    rng = np.random.default_rng(seed)
    best: Clustering | None = None
    for _ in range(max(restarts, 1)):
        result = _lloyd(x, _plus_plus_init(x, k, rng))
        if best is None or result.mean_cosine > best.mean_cosine:
            best = result
    assert best is not None
    return best


def _plus_plus_init(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding with cosine distance 1 - cos as the spread measure."""
    chosen = [int(rng.integers(len(x)))]
    distance = 1.0 - x @ x[chosen[0]]
    for _ in range(1, k):
        weights = np.maximum(distance, 0.0)
        total = weights.sum()
        pick = int(rng.choice(len(x), p=weights / total)) if total > 0 else int(rng.integers(len(x)))
        chosen.append(pick)
        distance = np.minimum(distance, 1.0 - x @ x[pick])
    return x[chosen].copy()


def _lloyd(x: np.ndarray, centres: np.ndarray) -> Clustering:
    previous = -np.inf
    labels = np.zeros(len(x), dtype=np.int64)
    objective = previous
    for _ in range(MAX_ITERATIONS):
        similarity = x @ centres.T
        labels = similarity.argmax(axis=1)
        best = similarity[np.arange(len(x)), labels]
        objective = float(best.mean())
        centres = _update_centres(x, labels, best, len(centres))
        if objective - previous < TOLERANCE:
            break
        previous = objective
    similarity = x @ centres.T
    labels = similarity.argmax(axis=1)
    return Clustering(centres, labels, float(similarity[np.arange(len(x)), labels].mean()))


def _update_centres(x: np.ndarray, labels: np.ndarray, best: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, x)
    counts = np.bincount(labels, minlength=k)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        # An empty cluster takes over the points its rivals fit worst, one each,
        # so k clusters stay k and no centre is left as a zero vector.
        worst = np.argsort(best)[: len(empty)]
        sums[empty] = x[worst]
    return normalize(sums)
