"""The protocol's data: per-block training, held-out and evaluation windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from raie.config import ProtocolConfig
from raie.data.catalog import Catalog
from raie.protocol.preprocess import Positives
from raie.protocol.split import assign_blocks, block_names, boundaries
from raie.protocol.windows import Segments, Windows, right_aligned_targets, segments, windows_at


@dataclass(frozen=True)
class BlockWindows:
    """The windows of one block (S, F, T or a stream slice).

    With h = ``holdout_targets``, each user's sequence in the block ends in
    h held-out targets, preceded by h validation targets:

    - ``train``: right-aligned with the training stride over the sequence
      without its last 2h positives;
    - ``valid``: one window per validation target; early stopping and
      hyper-parameter choice use it (S.valid for Set-up, F.valid for updates);
    - ``holdout``: one window per held-out target; S.holdout scores S and is
      never trained on nor tuned on;
    - ``eval``: right-aligned with the evaluation stride over the whole
      sequence; it scores T and every streamed slice.
    """

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
    start, length = segs.start[mine], segs.length[mine]
    L, h = config.context_len, config.holdout_targets

    def gather(targets: np.ndarray) -> Windows:
        return windows_at(targets, positives.user, positives.item, positives.ts, L)

    train = gather(right_aligned_targets(start, np.maximum(length - 2 * h, 0), L, config.train_stride))
    valid = gather(right_aligned_targets(start, np.maximum(length - h, 0), L, stride=1, max_per_segment=h))
    # Held-out targets are the last h rows of each segment, each with a full context.
    holdout = gather(right_aligned_targets(start, length, L, stride=1, max_per_segment=h))
    evaluation = gather(right_aligned_targets(start, length, L, config.eval_stride))
    rows = block_of_row == index
    return BlockWindows(
        name=name,
        train=train,
        valid=valid,
        holdout=holdout,
        eval=evaluation,
        n_interactions=int(rows.sum()),
        n_users=len(np.unique(positives.user[rows])),
        n_items=len(np.unique(positives.item[rows])),
    )
