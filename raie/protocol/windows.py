"""Right-aligned sliding windows whose targets never cross a block boundary.

A window is L context items followed by one target. Windows are aligned to
the end of a user's sequence inside one block: the last target is the
sequence's last item, the one before it ``stride`` positions earlier, and so
on while enough context fits before it (docs/METHOD.md section 1). By default
that is a full context of L items from the same block; ``min_context_len``
accepts shorter contexts, left-padded with ``PADDING_ITEM``, and
``context_across_blocks`` lets a context read the user's earlier blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from raie.protocol.preprocess import PADDING_ITEM


@dataclass(frozen=True)
class Windows:
    """A batch of windows: ``context[i]`` (L items, oldest first) predicts ``target[i]``."""

    user: np.ndarray  # int64 [n]
    context: np.ndarray  # int64 [n, L]
    target: np.ndarray  # int64 [n]
    ts: np.ndarray  # int64 [n], event time of the target

    def __len__(self) -> int:
        return len(self.target)

    def take(self, index: np.ndarray) -> Windows:
        return Windows(self.user[index], self.context[index], self.target[index], self.ts[index])

    @staticmethod
    def concat(parts: Sequence[Windows], context_len: int) -> Windows:
        if not parts:
            return empty_windows(context_len)
        return Windows(
            np.concatenate([p.user for p in parts]),
            np.concatenate([p.context for p in parts]),
            np.concatenate([p.target for p in parts]),
            np.concatenate([p.ts for p in parts]),
        )


def empty_windows(context_len: int) -> Windows:
    nothing = np.zeros(0, dtype=np.int64)
    return Windows(nothing, np.zeros((0, context_len), dtype=np.int64), nothing, nothing)


@dataclass(frozen=True)
class Segments:
    """Contiguous runs of one user's positives inside one block."""

    start: np.ndarray  # int64 [m], index of the first row in the sorted positives
    length: np.ndarray  # int64 [m]


def segments(user: np.ndarray, block: np.ndarray) -> Segments:
    """Split rows sorted by (user, ts) into (user, block) runs."""
    if len(user) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Segments(empty, empty)
    change = np.flatnonzero((user[1:] != user[:-1]) | (block[1:] != block[:-1])) + 1
    start = np.concatenate([[0], change]).astype(np.int64)
    end = np.concatenate([change, [len(user)]]).astype(np.int64)
    return Segments(start, end - start)


def right_aligned_targets(
    start: np.ndarray, usable: np.ndarray, context_len: int, stride: int, max_per_segment: int | None = None
) -> np.ndarray:
    """Row indices of targets: the last usable row of each segment, then every
    ``stride`` rows back while ``context_len`` rows of context remain before it."""
    # Number of targets per segment: positions L..usable-1 stepping back by stride.
    count = np.where(usable > context_len, (usable - 1 - context_len) // stride + 1, 0)
    if max_per_segment is not None:
        count = np.minimum(count, max_per_segment)
    seg = np.repeat(np.arange(len(start)), count)
    # r-th target counted back from the end of its segment.
    first_of_seg = np.cumsum(count) - count
    r = np.arange(count.sum()) - np.repeat(first_of_seg, count)
    targets = start[seg] + usable[seg] - 1 - stride * r
    return np.sort(targets)


def context_starts(user: np.ndarray, segs: Segments, across_blocks: bool) -> np.ndarray:
    """Per segment, the first row its windows' contexts may read: the segment's own
    first row, or with ``across_blocks`` the user's first row in any block."""
    if not across_blocks:
        return segs.start
    # Rows are sorted by user, so a user's first row is where its code first appears.
    firsts: np.ndarray = np.searchsorted(user, user[segs.start], side="left").astype(np.int64)
    return firsts


def segment_of(targets: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Index into ``start`` (sorted segment starts) of the segment holding each target row."""
    found: np.ndarray = np.searchsorted(start, targets, side="right") - 1
    return found


def windows_at(
    targets: np.ndarray,
    user: np.ndarray,
    item: np.ndarray,
    ts: np.ndarray,
    context_len: int,
    first_context_row: np.ndarray | None = None,
) -> Windows:
    """Gather the windows whose targets are the given row indices.

    ``first_context_row[i]`` is the earliest row target i's context may read; the
    context positions before it are ``PADDING_ITEM``, so short contexts are
    left-padded. None: every target has ``context_len`` readable rows before it.
    """
    context_rows = targets[:, None] - context_len + np.arange(context_len)[None, :]
    context = item[np.maximum(context_rows, 0)].reshape(len(targets), context_len)
    if first_context_row is not None:
        context = np.where(context_rows >= first_context_row[:, None], context, PADDING_ITEM)
    return Windows(user=user[targets], context=context, target=item[targets], ts=ts[targets])
