"""What ``raie recommend`` and the worker read from a store: a user's context and what is popular now.

Both read the ``interactions`` table the stream writes (one row per accepted
event). A user's context is their latest positives in the order the stream
applied them: by input partition and offset, as the ingress reads them (a
user's events share one partition, keyed by user id). "Now" is the newest
slice the store has interactions of: the slice the stream is filling.

The store is opened read-only (an in-memory catalog over its Parquet files),
so this works while a worker writes to it.
"""

from __future__ import annotations

from pathlib import Path

from raie.store import Store

POPULAR_LIMIT = 1000
"""Items kept for the popularity fallback: as many as an answer may list."""


def positive_filter(min_rating: float | None) -> str:
    """SQL for "a positive", as the stream windows them (streams/ingress.py): no rating, or at least ``min_rating``."""
    return "TRUE" if min_rating is None else f"(rating IS NULL OR rating >= {float(min_rating)!r})"


def user_context(store: Store, user_id: str, min_rating: float | None, length: int) -> tuple[str, ...]:
    """The user's last ``length`` positives, oldest first; empty for a user the store has not seen."""
    rows = store.query(
        f"SELECT item_id FROM interactions WHERE user_id = ? AND {positive_filter(min_rating)} "
        'ORDER BY "partition" DESC, "offset" DESC LIMIT ?',
        [user_id, length],
    )
    return tuple(reversed(rows.column("item_id").to_pylist()))


def popular_items(store: Store, min_rating: float | None, limit: int = POPULAR_LIMIT) -> list[tuple[str, float]]:
    """(item id, positives) of the newest slice, most first (ties by item id, so the order is stable)."""
    rows = store.query(
        "SELECT item_id, count(*) AS positives FROM interactions "
        f"WHERE slice = (SELECT max(slice) FROM interactions) AND {positive_filter(min_rating)} "
        "GROUP BY item_id ORDER BY positives DESC, item_id LIMIT ?",
        [limit],
    )
    return [(str(r["item_id"]), float(r["positives"])) for r in rows.to_pylist()]


def read_popular(root: Path, min_rating: float | None) -> list[tuple[str, float]]:
    """:func:`popular_items` of the store at ``root``, opened read-only for the call."""
    with Store.open(root, create=False, read_only=True) as store:
        return popular_items(store, min_rating)
