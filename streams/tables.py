"""Writing Faust tables with an explicit changelog partition, durably.

Faust picks a changelog partition from the event being processed; in a batch
(``take_events``) that is the batch's last event, not the one a key belongs
to. Writing the store and the changelog ourselves names the right partition,
so each input partition's state is restored with it.

The change is sent straight to the producer rather than through Faust's
``send_soon`` buffer: that buffer holds 100 records and stalls every
incoming message while it drains, which at one or two table writes per event
was the stream's bottleneck. Awaiting the returned future tells the caller
the change is in the changelog, before its events are acked.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any


async def put(table: Any, partition: int, key: str, value: Any) -> Awaitable[Any]:
    """Set ``key`` and send the change to the changelog; the future resolves once it is there."""
    table.data[key] = value
    return await table.changelog_topic.send(  # type: ignore[no-any-return]
        key=key,
        value=value,
        partition=partition,
        key_serializer=table.key_serializer,
        value_serializer=table.value_serializer,
    )


def get(table: Any, key: str) -> Any:
    return table.data.get(key)
