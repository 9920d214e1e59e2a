"""The protocol's data: per-block training, held-out and evaluation windows.

Roles are positional (raie/protocol/roles.py): the last h positives of a user's
sequence in a block are held out, the h before them validate, and so on. The
context setting (``min_context_len``, ``context_across_blocks``) only decides
which of those positives have enough context to be a window's target, so a
positive never changes role with it (docs/METHOD.md sections 1 and 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from raie.config import ProtocolConfig
from raie.data.catalog import Catalog
from raie.protocol.preprocess import Positives
from raie.protocol.roles import role_targets
from raie.protocol.split import assign_blocks, block_names, boundaries
from raie.protocol.windows import Segments, Windows, context_starts, segment_of, segments, windows_at


@dataclass(frozen=True)
class BlockWindows:
    """The windows of one block (S, F, T or a stream slice), by role (raie/protocol/roles.py)."""

    name: str
    train: Windows
    valid: Windows
    holdout: Windows
    eval: Windows
    n_interactions: int
    n_users: int
    n_items: int
    n_targets: int
    """Positives with enough context to be a window's target (every role, stride 1)."""
    n_window_users: int
    """Users with at least one such target: each has a held-out and an evaluation window."""
    n_train_users: int
    """Users with at least one training window."""


@dataclass(frozen=True)
class ProtocolData:
    positives: Positives
    config: ProtocolConfig
    block_of_row: np.ndarray  # int64 [n]: block index of each positive
    boundaries: np.ndarray  # int64 [n_blocks - 1]: block start timestamps
    blocks: tuple[BlockWindows, ...]
    catalog: Catalog
    """Item texts for LM backbones (anonymous when the data set has no item metadata)."""

    @property
    def n_items(self) -> int:
        return self.positives.n_items

    def block(self, name: str) -> BlockWindows:
        for block in self.blocks:
            if block.name == name:
                return block
        raise KeyError(f"no block '{name}'; blocks are {[b.name for b in self.blocks]}")


def build_protocol(positives: Positives, config: ProtocolConfig, items: pa.Table | None = None) -> ProtocolData:
    """Split positives by global time quantiles and cut every block into windows.

    ``items`` (ITEMS_SCHEMA) supplies item texts for the catalogue.
    """
    block_of_row = assign_blocks(positives.ts, config.cutoffs)
    segs = segments(positives.user, block_of_row)
    seg_block = block_of_row[segs.start] if len(segs.start) else np.zeros(0, dtype=np.int64)
    reach = context_starts(positives.user, segs, config.context_across_blocks)
    names = block_names(len(config.cutoffs) + 1)
    blocks = tuple(
        _block_windows(name, index, positives, block_of_row, segs, seg_block, reach, config)
        for index, name in enumerate(names)
    )
    catalog = Catalog.anonymous(positives.n_items) if items is None else Catalog.from_items(items, positives.item_ids)
    return ProtocolData(positives, config, block_of_row, boundaries(positives.ts, config.cutoffs), blocks, catalog)


def positional_role_targets(start: np.ndarray, length: np.ndarray, config: ProtocolConfig) -> dict[str, np.ndarray]:
    """Each role's target rows by position alone, whatever context precedes them.

    The role rule only makes targets with L rows before them in their sequence.
    Starting every sequence L rows earlier (as if left-padded with L items) lets
    every position qualify, and leaves the rows it returns (start + position) as
    they are; which of them have enough real context is decided by the caller.
    """
    L = config.context_len
    return role_targets(start - L, length + L, config)


def first_target(start: np.ndarray, reach: np.ndarray, config: ProtocolConfig) -> np.ndarray:
    """Per segment, the position of its first possible target: the first with
    ``shortest_context`` readable rows before it (rows from ``reach`` on)."""
    first: np.ndarray = np.maximum(config.shortest_context - (start - reach), 0)
    return first


def _block_windows(
    name: str,
    index: int,
    positives: Positives,
    block_of_row: np.ndarray,
    segs: Segments,
    seg_block: np.ndarray,
    reach: np.ndarray,
    config: ProtocolConfig,
) -> BlockWindows:
    mine = seg_block == index
    start, length, reach = segs.start[mine], segs.length[mine], reach[mine]
    first = first_target(start, reach, config)
    user, item, ts = positives.user, positives.item, positives.ts
    windows = {}
    # Roles by position first; then only the targets with enough readable context make a window.
    for role, rows in positional_role_targets(start, length, config).items():
        seg = segment_of(rows, start)
        keep = rows - start[seg] >= first[seg]
        windows[role] = windows_at(rows[keep], user, item, ts, config.context_len, reach[seg[keep]])
    rows = block_of_row == index
    targets = np.maximum(length - first, 0)
    return BlockWindows(
        name=name,
        train=windows["train"],
        valid=windows["valid"],
        holdout=windows["holdout"],
        eval=windows["eval"],
        n_interactions=int(rows.sum()),
        n_users=len(np.unique(positives.user[rows])),
        n_items=len(np.unique(positives.item[rows])),
        n_targets=int(targets.sum()),
        n_window_users=int((targets > 0).sum()),
        n_train_users=len(np.unique(windows["train"].user)),
    )
