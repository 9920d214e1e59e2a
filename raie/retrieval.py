"""Retrieval of next items from recent windows: the fresh signal of the ``hybrid`` strategy.

A window's frozen Set-up representation (the vector RAIE routes with) is a
query; the index holds the slice's other windows, each keyed by its own
representation and carrying its target, the item that user took next. The
retrieved neighbours' targets, weighted by cosine similarity, form a
next-item distribution that is blended with the model's softmax at
inference, so what users like this one took *this slice* counts before any
fine-tune has seen it.

Causality: a window is answered only from windows whose target happened
strictly before its own target (``ts``), so neither its own target nor any
later interaction can leak in; the same rule offline and on the stream. Only
other users' windows are retrieved (the user's own point at items already taken).

The index is usearch's HNSW (cosine), built incrementally in event-time
order. usearch was chosen over faiss-cpu (a 30 MB wheel whose flat index is
the scan we want to avoid) and hnswlib (no wheel for current Pythons): it is a
small self-contained wheel with incremental adds. Adds and searches run on one
thread so that a run's results are identical each time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from usearch.index import BatchMatches, Index

from raie.protocol.windows import Windows

CHUNK = 256
"""Queries answered per index search, in event-time order. Entries that happened inside a
chunk's time span are in the index for the whole chunk; each query over-fetches by their
count and drops those not strictly before it, so the answer is exact whatever the chunk."""


@dataclass(frozen=True)
class Neighbours:
    """Per query, up to k retrieved next items and their weights (0 where fewer were found)."""

    items: np.ndarray  # int64 [Q, k]
    weights: np.ndarray  # float32 [Q, k], >= 0

    def take(self, rows: slice) -> Neighbours:
        return Neighbours(self.items[rows], self.weights[rows])

    def distribution(self, n_columns: int, device: torch.device) -> torch.Tensor:
        """[Q, n_columns] next-item distribution (rows sum to 1; all zero without neighbours)."""
        items = torch.from_numpy(self.items).to(device)
        weights = torch.from_numpy(self.weights).to(device)
        dense = torch.zeros(len(self.items), n_columns, device=device).scatter_add_(1, items, weights)
        total = dense.sum(dim=1, keepdim=True)
        return torch.where(total > 0, dense / total.clamp_min(1e-12), dense)


def retrieve(index: Windows, index_rep: np.ndarray, query: Windows, query_rep: np.ndarray, k: int) -> Neighbours:
    """For each query window, the targets of its ``k`` most similar ``index`` windows of *other*
    users with ``ts`` strictly before its own, weighted by their (non-negative) cosine similarity.

    A user's own earlier windows are left out: their targets are items the user already took,
    which the protocol's dedupe never makes a target again."""
    n_queries = len(query)
    items = np.zeros((n_queries, k), dtype=np.int64)
    weights = np.zeros((n_queries, k), dtype=np.float32)
    if n_queries == 0 or len(index) == 0:
        return Neighbours(items, weights)
    users, codes = np.unique(np.concatenate([index.user, query.user]), return_inverse=True)
    index_user, query_user = codes[: len(index)], codes[len(index) :]
    added_per_user = np.zeros(len(users), dtype=np.int64)
    entry_order = np.argsort(index.ts, kind="stable")
    entry_ts = index.ts[entry_order]
    hnsw = Index(ndim=index_rep.shape[1], metric="cos", dtype="f32")
    added = 0
    query_order = np.argsort(query.ts, kind="stable")
    for start in range(0, n_queries, CHUNK):
        rows = query_order[start : start + CHUNK]
        first, last = query.ts[rows].min(), query.ts[rows].max()
        known = int(np.searchsorted(entry_ts, last, side="left"))  # every entry before the chunk's last query
        if known > added:
            new = entry_order[added:known]
            hnsw.add(new.astype(np.uint64), np.ascontiguousarray(index_rep[new], dtype=np.float32), threads=1)
            np.add.at(added_per_user, index_user[new], 1)
            added = known
        inside = added - int(np.searchsorted(entry_ts, first, side="left"))  # added, yet not before every query
        own = int(added_per_user[query_user[rows]].max())  # the most any query must skip as its own
        fetch = min(k + inside + own, added)
        if fetch == 0:
            continue
        found = hnsw.search(np.ascontiguousarray(query_rep[rows], dtype=np.float32), fetch, threads=1)
        assert isinstance(found, BatchMatches)  # a 2-d query always gets one row of matches per query
        keys = np.asarray(found.keys).reshape(len(rows), fetch)
        filled = np.arange(fetch)[None, :] < np.asarray(found.counts).reshape(-1, 1)
        keys = np.where(filled, keys, 0).astype(np.int64)
        usable = filled & (index.ts[keys] < query.ts[rows][:, None]) & (index_user[keys] != query_user[rows][:, None])
        usable &= np.cumsum(usable, axis=1) <= k
        similarity = np.where(usable, 1.0 - np.asarray(found.distances).reshape(len(rows), fetch), 0.0)
        first_usable = np.argsort(~usable, axis=1, kind="stable")[:, :k]  # the usable ones, nearest first
        width = first_usable.shape[1]
        items[rows, :width] = np.where(
            np.take_along_axis(usable, first_usable, 1), np.take_along_axis(index.target[keys], first_usable, 1), 0
        )
        weights[rows, :width] = np.clip(np.take_along_axis(similarity, first_usable, 1), 0.0, None)
    return Neighbours(items, weights)


@dataclass(frozen=True)
class RetrievalBlend:
    """``(1 - weight) * softmax(model scores) + weight * retrieved distribution``, per window.

    Computed in log space, so items no neighbour took keep the model's order exactly (no
    underflow to tied zeros), and a window without neighbours keeps the model's ranking."""

    neighbours: Neighbours
    weight: float

    def __call__(self, rows: slice, scores: torch.Tensor) -> torch.Tensor:
        if self.weight == 0.0:
            return scores
        model = torch.log_softmax(scores.float(), dim=-1) + float(np.log1p(-self.weight))
        retrieved = self.neighbours.take(rows).distribution(scores.shape[1], scores.device)
        return torch.logaddexp(model, torch.log(retrieved) + float(np.log(self.weight)))
