"""Time split: global timestamp quantiles cut the timeline into blocks.

With cutoffs (0.5, 0.8) the blocks are the paper's Set-up S, Fine-tune F and
Test T. With more cutoffs they are the N slices of the streaming protocol;
slice 0 is always Set-up.
"""

from __future__ import annotations

import numpy as np

OFFLINE_BLOCK_NAMES = ("S", "F", "T")


def block_names(n_blocks: int) -> tuple[str, ...]:
    """S/F/T for the offline three-block split, slice<i> otherwise."""
    if n_blocks == len(OFFLINE_BLOCK_NAMES):
        return OFFLINE_BLOCK_NAMES
    return tuple(f"slice{i}" for i in range(n_blocks))


def boundaries(ts: np.ndarray, cutoffs: tuple[float, ...]) -> np.ndarray:
    """Timestamps where each later block starts (global quantiles of ts)."""
    # "higher" keeps boundaries on real timestamps and gives block i at least its
    # quantile share of rows; a block is [b_{i-1}, b_i).
    cuts: np.ndarray = np.quantile(ts, np.asarray(cutoffs), method="higher").astype(np.int64)
    return cuts


def block_of(ts: np.ndarray, cuts: np.ndarray | tuple[int, ...]) -> np.ndarray:
    """Block index of every timestamp given the blocks' start times ``cuts``: block i is [cuts[i-1], cuts[i])."""
    return np.searchsorted(np.asarray(cuts, dtype=np.int64), ts, side="right").astype(np.int64)


def assign_blocks(ts: np.ndarray, cutoffs: tuple[float, ...]) -> np.ndarray:
    """Block index of every interaction: 0 before the first cutoff, and so on."""
    return block_of(ts, boundaries(ts, cutoffs))
