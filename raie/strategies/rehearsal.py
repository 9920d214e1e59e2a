"""Rehearsal: mix old (Set-up) windows into each epoch of new data.

Used by Replay (old windows drawn uniformly from S) and by RAIE (old
windows drawn from the same region as the new ones).
"""

from __future__ import annotations

import numpy as np

from raie.protocol.windows import Windows
from raie.training import EpochWindows


def rehearsal_size(n_new: int, n_old: int, new_fraction: float) -> int:
    """Old windows per epoch so that new ones make up ``new_fraction`` of it."""
    return min(n_old, round(n_new * (1.0 - new_fraction) / new_fraction))


def rehearsal_epochs(new: Windows, old: Windows, new_fraction: float, context_len: int) -> EpochWindows:
    """Every epoch: all new windows plus a fresh sample of old ones, which
    covers more of the old data over training than one fixed sample."""
    one_owner = np.zeros(len(new), dtype=np.int64), np.zeros(len(old), dtype=np.int64)
    return stratified_rehearsal_epochs(new, one_owner[0], old, one_owner[1], new_fraction, context_len)


def stratified_rehearsal_epochs(
    new: Windows,
    new_owner: np.ndarray,
    old: Windows,
    old_owner: np.ndarray,
    new_fraction: float,
    context_len: int,
) -> EpochWindows:
    """Like :func:`rehearsal_epochs`, but each owner (region) rehearses its own
    old windows in proportion to its share of the new ones."""
    owners = np.unique(new_owner)
    pools = {int(o): np.flatnonzero(old_owner == o) for o in owners}
    sizes = {o: rehearsal_size(int((new_owner == o).sum()), len(pool), new_fraction) for o, pool in pools.items()}

    def draw(rng: np.random.Generator) -> Windows:
        picks = [rng.choice(pool, size=sizes[o], replace=False) for o, pool in pools.items() if sizes[o]]
        rehearsal = old.take(np.concatenate(picks)) if picks else old.take(np.zeros(0, dtype=np.int64))
        return Windows.concat([new, rehearsal], context_len)

    return draw
