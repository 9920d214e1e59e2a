"""Candidate windows as the stream carries them (item ids), and their integer form.

Items are strings on the wire. A slice's candidates become the integer
:class:`~raie.protocol.windows.Windows` of the offline protocol once the item
vocabulary is known (it is fixed with the Set-up model at the close of slice 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from raie.protocol.preprocess import PADDING_ITEM
from raie.protocol.windows import Windows


@dataclass(frozen=True)
class Candidate:
    """The window whose target is the user's ``position``-th positive in ``slice``."""

    user_id: str
    slice: int
    position: int
    context: tuple[str, ...]
    target: str
    ts_ms: int
    embedding: np.ndarray | None  # float32 [H]: frozen Set-up representation, None in slice 0

    @property
    def key(self) -> tuple[str, int, int]:
        """The idempotence key: a window re-sent after a restart replaces itself."""
        return (self.user_id, self.slice, self.position)


@dataclass(frozen=True)
class ItemVocabulary:
    """Item id -> dense index (1..n; 0 pads), fixed when the Set-up model is trained."""

    item_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {item: i + 1 for i, item in enumerate(self.item_ids)})

    @classmethod
    def sorted_from(cls, items: Iterable[str]) -> ItemVocabulary:
        """Sorted ids, as the offline protocol indexes them (raie/protocol/preprocess.py)."""
        return cls(tuple(sorted(set(items))))

    def __len__(self) -> int:
        return len(self.item_ids)

    def index(self, item_id: str) -> int:
        """The item's index; an item first seen after Set-up has no embedding and reads as padding."""
        index: dict[str, int] = self.__dict__["_index"]
        return index.get(item_id, PADDING_ITEM)

    def encode(self, items: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.index(item) for item in items), dtype=np.int64, count=len(items))


def to_windows(candidates: Sequence[Candidate], vocabulary: ItemVocabulary, context_len: int) -> Windows:
    """Integer windows in the order given; ``user`` numbers users by sorted id within the batch."""
    users = sorted({c.user_id for c in candidates})
    user_index = {user: i for i, user in enumerate(users)}
    context = np.zeros((len(candidates), context_len), dtype=np.int64)
    for row, candidate in enumerate(candidates):
        context[row] = vocabulary.encode(candidate.context)
    return Windows(
        user=np.fromiter((user_index[c.user_id] for c in candidates), dtype=np.int64, count=len(candidates)),
        context=context,
        target=np.fromiter((vocabulary.index(c.target) for c in candidates), dtype=np.int64, count=len(candidates)),
        ts=np.fromiter((c.ts_ms // 1000 for c in candidates), dtype=np.int64, count=len(candidates)),
    )
