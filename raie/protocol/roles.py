"""The protocol's roles of a block's windows: one rule for the offline blocks and the stream's slices.

With h = ``holdout_targets``, each user's sequence in a block ends in h
held-out targets, preceded by h validation targets:

- ``train``: right-aligned with the training stride over the sequence without its last 2h positives;
- ``valid``: one window per validation target (early stopping, hyper-parameter choice);
- ``holdout``: one window per held-out target; S.holdout scores S and is never trained or tuned on;
- ``eval``: right-aligned with the evaluation stride over the whole sequence; it scores T and every
  streamed slice.
"""

from __future__ import annotations

import numpy as np

from raie.config import ProtocolConfig
from raie.protocol.windows import right_aligned_targets

ROLES = ("train", "valid", "holdout", "eval")


def role_targets(start: np.ndarray, length: np.ndarray, config: ProtocolConfig) -> dict[str, np.ndarray]:
    """Sorted row indices of each role's targets, for sequences laid end to end:
    sequence u occupies rows ``start[u] .. start[u] + length[u] - 1``."""
    L, h = config.context_len, config.holdout_targets
    return {
        "train": right_aligned_targets(start, np.maximum(length - 2 * h, 0), L, config.train_stride),
        "valid": right_aligned_targets(start, np.maximum(length - h, 0), L, stride=1, max_per_segment=h),
        "holdout": right_aligned_targets(start, length, L, stride=1, max_per_segment=h),
        "eval": right_aligned_targets(start, length, L, config.eval_stride),
    }
