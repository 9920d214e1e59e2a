"""Which of a slice's candidate windows train, validate, are held out or evaluate.

The stream emits a candidate for every positive with at least
``protocol.shortest_context`` readable items before it (L by default; see
raie/online/user_state.py). Once the slice is closed, each user's length n is known and the
offline protocol's one role rule (raie/protocol/roles.py) picks the same
targets it would, on positions instead of row indices.
"""

from __future__ import annotations

import numpy as np

from raie.config import ProtocolConfig
from raie.protocol.roles import role_targets


def select_roles(
    segment: np.ndarray, position: np.ndarray, length: np.ndarray, config: ProtocolConfig
) -> dict[str, np.ndarray]:
    """Boolean masks over candidates, one per role.

    ``segment`` numbers each candidate's user (0..m-1), ``position`` is its
    target's index in the user's sequence and ``length[segment]`` that
    sequence's length in the slice.
    """
    # Lay the users' sequences end to end so that position p of user u is row start[u] + p.
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    row = start[segment] + position
    return {role: np.isin(row, rows) for role, rows in role_targets(start, length, config).items()}
