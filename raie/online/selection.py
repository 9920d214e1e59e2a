"""Which of a slice's candidate windows train, validate, are held out or evaluate.

The stream emits a candidate for every position p >= L of a user's sequence in
a slice. Once the slice is closed, each user's length n is known and the
offline protocol's rules (raie/protocol/blocks.py) pick the same targets it
would: the same ``right_aligned_targets`` function runs on positions instead
of row indices.
"""

from __future__ import annotations

import numpy as np

from raie.config import ProtocolConfig
from raie.protocol.windows import right_aligned_targets

ROLES = ("train", "valid", "holdout", "eval")


def select_roles(
    segment: np.ndarray, position: np.ndarray, length: np.ndarray, config: ProtocolConfig
) -> dict[str, np.ndarray]:
    """Boolean masks over candidates, one per role.

    ``segment`` numbers each candidate's user (0..m-1), ``position`` is its
    target's index in the user's sequence and ``length[segment]`` that
    sequence's length in the slice.
    """
    L, h = config.context_len, config.holdout_targets
    # Lay the users' sequences end to end so that position p of user u is row start[u] + p.
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    row = start[segment] + position
    targets = {
        "train": right_aligned_targets(start, np.maximum(length - 2 * h, 0), L, config.train_stride),
        "valid": right_aligned_targets(start, np.maximum(length - h, 0), L, stride=1, max_per_segment=h),
        "holdout": right_aligned_targets(start, length, L, stride=1, max_per_segment=h),
        "eval": right_aligned_targets(start, length, L, config.eval_stride),
    }
    return {role: np.isin(row, rows) for role, rows in targets.items()}
