"""How stream workers reach the store: chunks without a lock, everything else through its single writer.

The store's DuckDB catalog lock makes it single-writer (raie/store/store.py).
Two workers of one group share a store, so neither holds it open: each
writes the ``interactions`` chunks of its own input partitions straight to
Parquet (no other process writes those files), and the worker running the
region editor opens the store for the few seconds a slice close writes its
rows, then closes it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from raie.store import Store, StoreError

T = TypeVar("T")

OPEN_WITHIN_S = 120.0
"""How long a slice close waits for the store's writer lock: long enough for a user's
write tool or a previous editor finishing its last close, short enough to surface a stuck holder."""
OPEN_RETRY_S = 0.5


@dataclass
class StoreAccess:
    root: Path
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One writer per process at a time (a compaction and a slice's rows do not interleave)."""

    def __post_init__(self) -> None:
        Store.open(self.root).close()  # create or migrate it now; refuses a directory that is not a store

    async def writing(self, work: Callable[[Store], T]) -> T:
        """Run ``work`` on the store opened for writing, in a thread; the store is closed after."""
        async with self.lock:
            return await asyncio.to_thread(self._writing, work)

    def _writing(self, work: Callable[[Store], T]) -> T:
        deadline = time.monotonic() + OPEN_WITHIN_S
        while True:
            try:
                store = Store.open(self.root)
                break
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(OPEN_RETRY_S)  # another process writes; its hold is short
        with store:
            return work(store)
