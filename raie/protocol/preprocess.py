"""Positives, dedupe and k-core: raw interactions become integer-coded positives.

Preprocessing is a chain of steps (rating threshold, dedupe, k-core), each a
filter over coded rows. ``preprocess`` runs them in order and records what
each one kept (``Positives.steps``), so that reports can show where the data
went; a step that leaves nothing stops with a ConfigError naming its knob.

Order of the positives, ties included. Rows are sorted by user, then time,
then item, where users and items compare by their raw source ids as strings
(code-point order: MovieLens movieId "10" comes before "9"), never by an
integer code. So items a user rated in the same second, common in MovieLens,
keep one order whatever coding the ids had before, and a re-coding of ids
cannot change a window's sequence (it did once, when the coding changed).
The codes of ``Positives`` are ranks in that order (``user_ids`` and
``item_ids`` are sorted), so sorting by code and by id agree. Rows equal in
(user, ts, item) remain only with dedupe off, and are then identical in
``Positives``, so the order is total over every row that can be told apart.
``raie replay`` sends same-second events in the same order (by ts, then user
id, then item id, as strings), so the stream sees each user's ties this way too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raie.config import PreprocessConfig
from raie.errors import ConfigError

PADDING_ITEM = 0
"""Item index 0 pads short contexts and is never a candidate; real items start at 1."""

LOADED_STEP = "loaded"
"""Name of the first row of the step counts: every interaction the loader read."""


@dataclass(frozen=True)
class StepCount:
    """What survived one preprocessing step."""

    step: str
    """What the step does, e.g. ``rating >= 4`` or ``10-core``."""
    knob: str | None
    """The config field that controls the step (None for the loaded data)."""
    interactions: int
    users: int
    items: int
    fix: str | None = None
    """How to keep more data when this step removes too much (None for the loaded data)."""


@dataclass(frozen=True)
class Positives:
    """Integer-coded positive interactions, sorted by (user, ts, item) (see the module docstring).

    ``user_ids[u]`` and ``item_ids[i - 1]`` map indices back to the source ids;
    both lists are sorted, so a code's order is its id's order.
    """

    user: np.ndarray  # int64 [n]
    item: np.ndarray  # int64 [n], 1..n_items
    ts: np.ndarray  # int64 [n], epoch seconds
    user_ids: list[str]
    item_ids: list[str]
    steps: tuple[StepCount, ...] = ()
    """The loaded data, then each step that ran, with what it kept."""

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def __len__(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class _Rows:
    """Interactions part-way through preprocessing, coded against the loaded ids."""

    user: np.ndarray  # int64 [n]
    item: np.ndarray  # int64 [n]
    ts: np.ndarray  # int64 [n]
    rating: np.ndarray  # float32 [n], NaN where the loader had none

    def take(self, keep: np.ndarray) -> _Rows:
        return _Rows(self.user[keep], self.item[keep], self.ts[keep], self.rating[keep])

    def count(self, step: str, knob: str | None = None, fix: str | None = None) -> StepCount:
        # Codes are dense indices, so distinct values are the non-zero bins.
        return StepCount(
            step,
            knob,
            interactions=len(self.user),
            users=int(np.count_nonzero(np.bincount(self.user))),
            items=int(np.count_nonzero(np.bincount(self.item))),
            fix=fix,
        )


@dataclass(frozen=True)
class _Step:
    name: str
    knob: str
    keep: Callable[[_Rows], np.ndarray]
    """Boolean mask or sorted indices of the rows the step keeps."""
    fix: str
    """How to keep more data when this step removes too much."""


def preprocess(interactions: pa.Table, config: PreprocessConfig) -> Positives:
    """Apply the positive threshold, dedupe and k-core; then index and sort.

    Raises ConfigError, naming the step's config field, when a step leaves no
    interaction of a non-empty input.
    """
    users = _codes(interactions["user_id"])
    items = _codes(interactions["item_id"])
    rating = pc.fill_null(interactions["rating"], pa.scalar(float("nan"), pa.float32()))
    rows = _Rows(
        users.indices,
        items.indices,
        interactions["ts"].cast(pa.int64()).to_numpy(),
        rating.to_numpy().astype(np.float32, copy=False),
    )
    counts = [rows.count(LOADED_STEP)]
    for step in _steps(config):
        rows = rows.take(step.keep(rows))
        counts.append(rows.count(step.name, step.knob, step.fix))
        _require_rows(counts[-2], counts[-1])
    return _positives(rows, users, items, tuple(counts))


def _steps(config: PreprocessConfig) -> list[_Step]:
    """The enabled steps, in the order they run."""
    steps = []
    if config.min_rating is not None:
        # Compared in float32, the column's type, so 4.0 keeps a stored 4.0.
        threshold = np.float32(config.min_rating)
        steps.append(
            _Step(
                f"rating >= {config.min_rating:g}",
                "preprocess.min_rating",
                lambda rows: rows.rating >= threshold,
                f"lower it, e.g. --set preprocess.min_rating={config.min_rating - 1:g}",
            )
        )
    if config.dedupe:
        steps.append(
            _Step(
                "latest per (user, item)",
                "preprocess.dedupe",
                lambda rows: _latest_per_pair(rows.user, rows.item, rows.ts),
                "turn it off with --set preprocess.dedupe=false if repeats are meaningful",
            )
        )
    if config.k_core > 0:
        k = config.k_core
        steps.append(
            _Step(
                f"{k}-core",
                "preprocess.k_core",
                lambda rows: _k_core_mask(rows.user, rows.item, k),
                f"lower it, e.g. --set preprocess.k_core={_weaker_core(k)}; 0 disables it",
            )
        )
    return steps


def _weaker_core(k: int) -> int:
    """A k-core worth suggesting: half of k, or off when half is no filter at all."""
    return k // 2 if k // 2 >= 2 else 0


def _require_rows(before: StepCount, after: StepCount) -> None:
    """Stop at the step that filtered a non-empty input down to nothing."""
    if before.interactions > 0 and after.interactions == 0:
        raise ConfigError(
            after.knob or after.step,
            f"the '{after.step}' step keeps none of the {before.interactions} interactions "
            f"({before.users} users, {before.items} items) left by '{before.step}'",
            f"{after.fix}, or use a larger data set",
        )


def _positives(rows: _Rows, users: _Codes, items: _Codes, steps: tuple[StepCount, ...]) -> Positives:
    user_ids, user = _ranked_by_id(rows.user, users.names)
    item_ids, item = _ranked_by_id(rows.item, items.names)
    # Codes are ranks of the raw ids, so this is (user id, ts, item id): same-second
    # ties follow the source ids, not whatever coding ``users``/``items`` used.
    order = np.lexsort((item, rows.ts, user))
    return Positives(
        user=user[order],
        item=item[order] + 1,
        ts=rows.ts[order],
        user_ids=user_ids,
        item_ids=item_ids,
        steps=steps,
    )


def _ranked_by_id(codes: np.ndarray, names: list[str]) -> tuple[list[str], np.ndarray]:
    """The ids ``codes`` still use, sorted as strings, and each row's rank among them.

    Dense (filtered-out ids leave no holes) and independent of how ``codes``
    were assigned: only the id strings decide the ranks.
    """
    kept, inverse = np.unique(codes, return_inverse=True)
    kept_names = [names[i] for i in kept]
    by_id = sorted(range(len(kept_names)), key=kept_names.__getitem__)
    rank = np.empty(len(kept_names), dtype=np.int64)
    rank[by_id] = np.arange(len(kept_names))
    return [kept_names[i] for i in by_id], rank[inverse.reshape(-1)]


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
