"""Candidate windows as the stream carries them (item ids), and their integer form.

Items are strings on the wire. A slice's candidates become the integer
:class:`~raie.protocol.windows.Windows` of the offline protocol through the item
vocabulary: fixed with the Set-up model at the close of slice 0, then grown
into the model's free rows as new items appear.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from raie.data.catalog import reserved_rows
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
    """Item id -> dense index (1..n; 0 pads). Set-up fixes the first ids (sorted, as the
    offline protocol indexes them) and the model's ``rows``; items first seen later take
    the free rows in the order they arrive (:meth:`grown`)."""

    item_ids: tuple[str, ...]
    rows: int = 0
    """Item rows of the Set-up model (known items + ``new_item_room``); 0: exactly the ids."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {item: i + 1 for i, item in enumerate(self.item_ids)})
        if self.rows < len(self.item_ids):
            object.__setattr__(self, "rows", len(self.item_ids))

    @classmethod
    def sorted_from(cls, items: Iterable[str], room: float = 0.0) -> ItemVocabulary:
        """Sorted ids (raie/protocol/preprocess.py's order), with ``room`` free rows as ``build_backbone`` adds."""
        ids = tuple(sorted(set(items)))
        return cls(ids, len(ids) + reserved_rows(len(ids), room))

    def __len__(self) -> int:
        return len(self.item_ids)

    def grown(self, items: Iterable[str]) -> tuple[ItemVocabulary, list[str]]:
        """This vocabulary with ``items`` it does not know given free rows (sorted, for a
        deterministic order); and the new items left without a row, which read as padding."""
        index: dict[str, int] = self.__dict__["_index"]
        new = sorted({item for item in items if item not in index})
        room = self.rows - len(self.item_ids)
        if not new or room == 0:
            return self, new
        return ItemVocabulary((*self.item_ids, *new[:room]), self.rows), new[room:]

    def index(self, item_id: str) -> int:
        """The item's row; an item without one (first seen with the free rows used up) reads as padding."""
        index: dict[str, int] = self.__dict__["_index"]
        return index.get(item_id, PADDING_ITEM)

    def encode(self, items: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.index(item) for item in items), dtype=np.int64, count=len(items))


def encode_contexts(contexts: Sequence[Sequence[str]], vocabulary: ItemVocabulary, context_len: int) -> np.ndarray:
    """int64 [n, L]: each context's item indices, left-padded with ``PADDING_ITEM`` as
    the offline protocol pads a short context (raie/protocol/windows.py)."""
    encoded = np.full((len(contexts), context_len), PADDING_ITEM, dtype=np.int64)
    for row, context in enumerate(contexts):
        if context:
            encoded[row, context_len - len(context) :] = vocabulary.encode(context)
    return encoded


def to_windows(candidates: Sequence[Candidate], vocabulary: ItemVocabulary, context_len: int) -> Windows:
    """Integer windows in the order given; ``user`` numbers users by sorted id within the batch."""
    users = sorted({c.user_id for c in candidates})
    user_index = {user: i for i, user in enumerate(users)}
    n = len(candidates)
    return Windows(
        user=np.fromiter((user_index[c.user_id] for c in candidates), dtype=np.int64, count=n),
        context=encode_contexts([c.context for c in candidates], vocabulary, context_len),
        target=np.fromiter((vocabulary.index(c.target) for c in candidates), dtype=np.int64, count=n),
        ts=np.fromiter((c.ts_ms // 1000 for c in candidates), dtype=np.int64, count=n),
    )
