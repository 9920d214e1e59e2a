"""Writing Faust tables with an explicit changelog partition.

Faust picks a changelog partition from the event being processed; in a batch
(``take_events``) that is the batch's last event, not the one a key belongs
to. Writing the store and the changelog ourselves names the right partition,
so each input partition's state is restored with it.
"""

from __future__ import annotations

from typing import Any


def put(table: Any, partition: int, key: str, value: Any) -> None:
    table.data[key] = value
    table.send_changelog(partition, key, value)


def get(table: Any, key: str) -> Any:
    return table.data.get(key)
