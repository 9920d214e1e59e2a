"""The canonical tables every loader produces and every consumer reads."""

from __future__ import annotations

import pyarrow as pa

INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("rating", pa.float32()),
        pa.field("ts", pa.timestamp("s", tz="UTC"), nullable=False),
    ]
)
"""One row per interaction, in no particular order."""

ITEMS_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("categories", pa.list_(pa.string())),
    ]
)
"""One row per item: movies (title, genres) or businesses (name, categories)."""
