"""A closed slice's candidates, split into the protocol's roles, put in order and encoded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from raie.config import ProtocolConfig
from raie.online.candidates import Candidate, ItemVocabulary, to_windows
from raie.online.selection import select_roles
from raie.protocol.windows import Windows


@dataclass(frozen=True)
class RoleWindows:
    """One role's windows and, in slices after Set-up, their frozen representations."""

    windows: Windows
    representations: np.ndarray | None  # float32 [n, H]


def protocol_order(candidates: Sequence[Candidate]) -> list[Candidate]:
    """(user id, position): the offline protocol's row order of a block."""
    return sorted(candidates, key=lambda c: (c.user_id, c.position))


def split_roles(candidates: Sequence[Candidate], config: ProtocolConfig) -> dict[str, list[Candidate]]:
    """The candidates of each role, in (user, position) order.

    Roles are positional, as offline (``positional_role_targets``,
    raie/protocol/blocks.py): which positions have enough context was decided when
    the candidates were made (raie/online/user_state.py). The role rule itself only
    picks positions with L positions before them, so every sequence is shifted L
    positions on (as if left-padded with L items) to let it pick by position alone.
    """
    ordered = protocol_order(candidates)
    users = sorted({c.user_id for c in ordered})
    segment_of = {user: i for i, user in enumerate(users)}
    segment = np.fromiter((segment_of[c.user_id] for c in ordered), dtype=np.int64, count=len(ordered))
    position = np.fromiter((c.position for c in ordered), dtype=np.int64, count=len(ordered))
    # The user's last positive is always a candidate when any is, so it gives the length.
    length = np.zeros(len(users), dtype=np.int64)
    np.maximum.at(length, segment, position + 1)
    shift = config.context_len
    masks = select_roles(segment, position + shift, length + shift, config)
    return {role: [c for c, keep in zip(ordered, mask, strict=True) if keep] for role, mask in masks.items()}


def role_windows(candidates: Sequence[Candidate], vocabulary: ItemVocabulary, context_len: int) -> RoleWindows:
    embedded = [c.embedding for c in candidates if c.embedding is not None]
    representations = np.stack(embedded).astype(np.float32) if embedded and len(embedded) == len(candidates) else None
    return RoleWindows(to_windows(candidates, vocabulary, context_len), representations)
