"""Paired bootstrap confidence intervals for method differences (docs/METHOD.md section 6).

Two bootstraps of the mean difference of a per-window metric between two
methods scored on the same windows:

- ``paired_bootstrap`` resamples windows one by one. Windows of one user are
  not independent, so its interval is too narrow; it stays for comparison.
- ``clustered_bootstrap`` resamples users, each drawn user bringing all its
  windows, and is what the reports use. Every seed scores the same windows,
  so one draw of users serves every seed and the interval is of the mean over
  seeds of the per-seed difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

BOOTSTRAP_SAMPLES = 2000
"""Enough resamples that the 95% bounds move by well under 1e-3 between runs."""

MAX_COUNT_CELLS = 4_000_000
"""Resamples are counted in blocks of at most this many (resample, user) cells,
about 32 MB of int64, so that data sets with many users stay in memory."""


@dataclass(frozen=True)
class Difference:
    mean: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


NO_DIFFERENCE = Difference(float("nan"), float("nan"), float("nan"))
"""What a comparison over no windows gives."""


class SeedPair(NamedTuple):
    """One seed's scores of two methods on the same windows, in the same order."""

    users: np.ndarray  # int64 [n], the user of each window
    a: np.ndarray  # float64 [n], the metric of method a
    b: np.ndarray  # float64 [n], the metric of method b


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, seed: int = 0, level: float = 0.95) -> Difference:
    """CI of mean(a - b) over windows scored by both methods (same windows, same order), windows resampled."""
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in shape: {a.shape} vs {b.shape}")
    diff = a - b
    if len(diff) == 0:
        return NO_DIFFERENCE
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(BOOTSTRAP_SAMPLES, len(diff)))].mean(axis=1)
    low, high = _interval(means, level)
    return Difference(float(diff.mean()), low, high)


def clustered_bootstrap(
    pairs: Sequence[SeedPair | tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    seed: int = 0,
    level: float = 0.95,
    samples: int = BOOTSTRAP_SAMPLES,
) -> Difference:
    """CI of the seed-mean of mean(a - b) over windows, users resampled with replacement.

    Resample r draws ``len(u)`` users ``u[draws[r]]``, with ``u`` the sorted
    distinct users and ``draws`` from ``rng.integers(0, len(u), (rows, len(u)))``
    taken in blocks of rows (``MAX_COUNT_CELLS``). A drawn user contributes all
    its windows, once per time it is drawn; each seed's difference is the mean
    over those windows, and the resample's value is the mean over seeds.
    """
    if not pairs:
        raise ValueError("no seeds to compare")
    users = np.asarray(pairs[0][0])
    for index, (seed_users, a, b) in enumerate(pairs):
        if not (len(seed_users) == len(a) == len(b)) or not np.array_equal(seed_users, users):
            raise ValueError(f"seed {index} does not score the windows seed 0 scores (users, a and b must match)")
    if len(users) == 0:
        return NO_DIFFERENCE
    distinct, inverse = np.unique(users, return_inverse=True)
    # The denominator (windows drawn) is the same for every seed, so the mean over
    # seeds of per-seed means is one mean of the seed-averaged per-window difference.
    diff = np.mean([np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64) for _, a, b in pairs], axis=0)
    user_sum = np.bincount(inverse, weights=diff, minlength=len(distinct))
    user_windows = np.bincount(inverse, minlength=len(distinct)).astype(np.float64)
    rows_per_block = max(1, MAX_COUNT_CELLS // len(distinct))
    means = _resampled_means(user_sum, user_windows, samples, np.random.default_rng(seed), rows_per_block)
    low, high = _interval(means, level)
    return Difference(float(diff.mean()), low, high)


def _resampled_means(
    user_sum: np.ndarray, user_windows: np.ndarray, samples: int, rng: np.random.Generator, rows_per_block: int
) -> np.ndarray:
    """Window-weighted mean of each resample: sum over drawn users of their sums over their window counts."""
    n_users = len(user_sum)
    means = np.empty(samples, dtype=np.float64)
    for start in range(0, samples, rows_per_block):
        rows = min(rows_per_block, samples - start)
        draws = rng.integers(0, n_users, size=(rows, n_users))
        # One bincount over (row, user) cells gives the rows x users count matrix.
        cells = (np.arange(rows)[:, None] * n_users + draws).ravel()
        counts = np.bincount(cells, minlength=rows * n_users).reshape(rows, n_users).astype(np.float64)
        means[start : start + rows] = (counts @ user_sum) / (counts @ user_windows)
    return means


def _interval(means: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)
