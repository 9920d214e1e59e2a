"""Positives, dedupe and k-core: raw interactions become integer-coded positives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raie.config import PreprocessConfig

PADDING_ITEM = 0
"""Item index 0 pads short contexts and is never a candidate; real items start at 1."""


@dataclass(frozen=True)
class Positives:
    """Integer-coded positive interactions, sorted by (user, ts, item).

    ``user_ids[u]`` and ``item_ids[i - 1]`` map indices back to the source ids.
    """

    user: np.ndarray  # int64 [n]
    item: np.ndarray  # int64 [n], 1..n_items
    ts: np.ndarray  # int64 [n], epoch seconds
    user_ids: list[str]
    item_ids: list[str]

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def __len__(self) -> int:
        return len(self.user)


def preprocess(interactions: pa.Table, config: PreprocessConfig) -> Positives:
    """Apply the positive threshold, dedupe and k-core; then index and sort."""
    table = interactions
    if config.min_rating is not None:
        table = table.filter(pc.greater_equal(table["rating"], pa.scalar(config.min_rating, pa.float32())))
    users = _codes(table["user_id"])
    items = _codes(table["item_id"])
    ts = table["ts"].cast(pa.int64()).to_numpy()
    user, item = users.indices, items.indices
    if config.dedupe:
        keep = _latest_per_pair(user, item, ts)
        user, item, ts = user[keep], item[keep], ts[keep]
    if config.k_core > 0:
        keep = _k_core_mask(user, item, config.k_core)
        user, item, ts = user[keep], item[keep], ts[keep]
    # Re-index densely so that filtered-out users and items leave no holes.
    user_uniques, user = np.unique(user, return_inverse=True)
    item_uniques, item = np.unique(item, return_inverse=True)
    order = np.lexsort((item, ts, user))
    return Positives(
        user=user[order].astype(np.int64),
        item=item[order].astype(np.int64) + 1,
        ts=ts[order],
        user_ids=[users.names[i] for i in user_uniques],
        item_ids=[items.names[i] for i in item_uniques],
    )


@dataclass(frozen=True)
class _Codes:
    indices: np.ndarray
    names: list[str]


def _codes(column: pa.ChunkedArray) -> _Codes:
    """Codes in sorted-id order, so that indices (and with them every seeded
    shuffle and initialisation) do not depend on the order rows arrive in:
    a file, a shuffled copy of it and the stream's replay give the same model."""
    encoded = column.combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return _Codes(rank[encoded.indices.to_numpy()], [names[i] for i in order])


def _latest_per_pair(user: np.ndarray, item: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Indices that keep the latest row of each (user, item) pair."""
    order = np.lexsort((ts, item, user))
    pair_u, pair_i = user[order], item[order]
    last_of_pair = np.ones(len(order), dtype=bool)
    last_of_pair[:-1] = (pair_u[1:] != pair_u[:-1]) | (pair_i[1:] != pair_i[:-1])
    return np.sort(order[last_of_pair])


def _k_core_mask(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    """Iteratively drop rows whose user or item has fewer than k rows."""
    keep = np.ones(len(user), dtype=bool)
    while True:
        user_counts = np.bincount(user[keep], minlength=user.max(initial=0) + 1)
        item_counts = np.bincount(item[keep], minlength=item.max(initial=0) + 1)
        still = keep & (user_counts[user] >= k) & (item_counts[item] >= k)
        if still.sum() == keep.sum():
            return keep
        keep = still
