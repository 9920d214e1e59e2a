"""The timeline a replay sends: exactly the interactions the offline protocol trains and tests on.

Built from the project's own loader and preprocessing, so that a model kept
current on the stream and one trained offline see the same events and the
same slice boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from raie.config import ExperimentConfig, ProtocolConfig
from raie.data.dataset import Dataset, load_dataset
from raie.errors import ConfigError, DataError
from raie.protocol.preprocess import Positives, preprocess
from raie.protocol.split import boundaries
from schemas import Interaction, Item

DEFAULT_SLICES = (0.5, 0.8)
"""The paper's Set-up | Fine-tune | Test quantiles, the shipped presets' cutoffs."""

MAX_TITLE_CHARS = 1024
MAX_CATEGORY_CHARS = 256
"""Item v1's length limits; a longer title or category from a data set is cut to fit
instead of aborting a replay half way through the catalogue."""

BATCH_ROWS = 10_000
"""Rows converted to Python objects at a time: events are made lazily, so a
multi-million-row timeline never exists as objects all at once."""

MS_PER_SECOND = 1000


@dataclass(frozen=True)
class Timeline:
    """Items, events sorted by (ts, user_id, item_id), and slice boundaries."""

    dataset: str
    items: tuple[Item, ...]
    """One per item of the preprocessed positives, in ``Positives.item_ids`` order."""
    table: pa.Table
    """Columns user_id, item_id (string), rating (float32, nullable), ts (int64 epoch seconds), sorted."""
    boundaries: tuple[int, ...]
    """Epoch seconds where slices 1, 2, ... start; slice k is [boundaries[k-1], boundaries[k])."""

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @property
    def n_slices(self) -> int:
        return len(self.boundaries) + 1

    @property
    def last_ts(self) -> int:
        """Epoch seconds of the last event."""
        return int(self.table["ts"][-1].as_py())

    def events(self) -> Iterator[Interaction]:
        """The interactions in order, built batch by batch."""
        source = f"replay:{self.dataset}"
        for batch in self.table.to_batches(max_chunksize=BATCH_ROWS):
            columns = batch.to_pydict()
            for user_id, item_id, rating, ts in zip(
                columns["user_id"], columns["item_id"], columns["rating"], columns["ts"], strict=True
            ):
                yield Interaction(
                    event_id=event_id(self.dataset, user_id, item_id, ts),
                    user_id=user_id,
                    item_id=item_id,
                    ts_ms=ts * MS_PER_SECOND,
                    source=source,
                    rating=rating,
                )


def event_id(dataset: str, user_id: str, item_id: str, ts: int) -> str:
    """Deterministic id of a replayed interaction.

    Re-running a replay re-sends the same ids, so a stream that stores events
    idempotently by id keeps each one once instead of doubling the data.
    (With dedupe off, identical (user, item, ts) rows share an id and count once.)
    """
    return f"{dataset}:{user_id}:{item_id}:{ts}"


def replay_timeline(
    dataset: str, data_dir: Path, config: ExperimentConfig, slices: tuple[float, ...] = DEFAULT_SLICES
) -> Timeline:
    """Load, preprocess (positives, dedupe, k-core) and order what a replay sends.

    k-core needs the whole timeline (a user's later interactions decide whether
    their early ones stay), which a live producer cannot know; the replayer
    applies it here, so the stream receives exactly the offline protocol's data.
    """
    check_slices(slices)
    data = load_dataset(dataset, data_dir)
    positives = preprocess(data.interactions, config.preprocess)
    if len(positives) == 0:
        raise DataError(data.source, "no interactions left after preprocessing", fix="lower preprocess.k_core")
    cuts = boundaries(positives.ts, slices)
    return Timeline(
        dataset=dataset,
        items=_items(data, positives.item_ids),
        table=_events_table(data, positives),
        boundaries=tuple(int(cut) for cut in cuts),
    )


def check_slices(slices: tuple[float, ...]) -> None:
    """ConfigError naming ``--slices`` unless they are valid protocol cutoffs (one rule: ProtocolConfig's)."""
    try:
        ProtocolConfig(cutoffs=slices)
    except ConfigError as error:
        raise ConfigError("--slices", error.problem, error.fix) from error


def _events_table(data: Dataset, positives: Positives) -> pa.Table:
    """Positives with source ids, and the raw rating joined back on (user, item, ts)."""
    kept = pa.table(
        {
            "user_id": pa.array(positives.user_ids, pa.string()).take(pa.array(positives.user)),
            "item_id": pa.array(positives.item_ids, pa.string()).take(pa.array(positives.item - 1)),
            "ts": pa.array(positives.ts, pa.int64()),
        }
    )
    raw = data.interactions
    # Several raw rows may share (user, item, ts) with different ratings; max is
    # the rating of a row that passed the positive threshold, and deterministic.
    ratings = (
        pa.table({"user_id": raw["user_id"], "item_id": raw["item_id"], "ts": raw["ts"].cast(pa.int64())})
        .append_column("rating", raw["rating"])
        .group_by(["user_id", "item_id", "ts"])
        .aggregate([("rating", "max")])
    )
    ratings = ratings.rename_columns([name.removesuffix("_max") for name in ratings.column_names])
    joined = kept.join(ratings, keys=["user_id", "item_id", "ts"], join_type="left outer")
    ordered = joined.sort_by([("ts", "ascending"), ("user_id", "ascending"), ("item_id", "ascending")])
    return ordered.select(["user_id", "item_id", "rating", "ts"]).combine_chunks()


def _items(data: Dataset, item_ids: list[str]) -> tuple[Item, ...]:
    """Item messages for the kept items, with title and categories where the data set has them."""
    known = {
        row["item_id"]: (row["title"], row["categories"])
        for row in data.items.select(["item_id", "title", "categories"]).to_pylist()
    }
    return tuple(_item(item_id, *known.get(item_id, (None, None))) for item_id in item_ids)


def _item(item_id: str, title: str | None, categories: list[str] | None) -> Item:
    # Same cleaning as raie.data.catalog: blank titles and empty categories carry nothing.
    name = (title or "").strip()[:MAX_TITLE_CHARS] or None
    tags = tuple(c[:MAX_CATEGORY_CHARS] for c in categories or () if c)
    return Item(item_id=item_id, title=name, categories=tags or None)
