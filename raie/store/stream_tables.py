"""Store tables the stream writes."""

from __future__ import annotations

import pyarrow as pa

from raie.store.tables import TableSpec, register_table

INTERACTIONS = register_table(
    TableSpec(
        name="interactions",
        schema=pa.schema(
            [
                pa.field("event_id", pa.string(), nullable=False),
                pa.field("user_id", pa.string(), nullable=False),
                pa.field("item_id", pa.string(), nullable=False),
                pa.field("rating", pa.float64()),
                pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
                pa.field("slice", pa.int32(), nullable=False),
                pa.field("source", pa.string(), nullable=False),
                pa.field("partition", pa.int32(), nullable=False),
                pa.field("offset", pa.int64(), nullable=False),
                pa.field("chunk", pa.string(), nullable=False),
            ]
        ),
        # A chunk is one sink flush, named by its first offset: re-consuming after a
        # crash rewrites the same chunk, and the view drops any row written twice.
        partition_by=("slice", "chunk"),
        description=(
            "Every accepted interaction of the stream, one row per distinct event_id "
            "(the first one received); slice: the stream slice it fell in; "
            "partition/offset: where it was read from the interactions topic."
        ),
        dedupe_by=("event_id",),
    )
)
