"""The protocol's data: per-block training, held-out and evaluation windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from raie.config import ProtocolConfig
from raie.data.catalog import Catalog
from raie.protocol.preprocess import Positives
from raie.protocol.roles import role_targets
from raie.protocol.split import assign_blocks, block_names, boundaries
from raie.protocol.windows import Segments, Windows, segments, windows_at


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
    names = block_names(len(config.cutoffs) + 1)
    blocks = tuple(
        _block_windows(name, index, positives, block_of_row, segs, seg_block, config)
        for index, name in enumerate(names)
    )
    catalog = Catalog.anonymous(positives.n_items) if items is None else Catalog.from_items(items, positives.item_ids)
    return ProtocolData(positives, config, block_of_row, boundaries(positives.ts, config.cutoffs), blocks, catalog)


def _block_windows(
    name: str,
    index: int,
    positives: Positives,
    block_of_row: np.ndarray,
    segs: Segments,
    seg_block: np.ndarray,
    config: ProtocolConfig,
) -> BlockWindows:
    mine = seg_block == index
    targets = role_targets(segs.start[mine], segs.length[mine], config)
    windows = {
        role: windows_at(rows, positives.user, positives.item, positives.ts, config.context_len)
        for role, rows in targets.items()
    }
    rows = block_of_row == index
    return BlockWindows(
        name=name,
        train=windows["train"],
        valid=windows["valid"],
        holdout=windows["holdout"],
        eval=windows["eval"],
        n_interactions=int(rows.sum()),
        n_users=len(np.unique(positives.user[rows])),
        n_items=len(np.unique(positives.item[rows])),
    )
