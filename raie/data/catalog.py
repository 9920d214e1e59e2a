"""The item catalogue a backbone scores: dense indices with the text LM prompts use.

Index 0 is padding; item i (1..n) is ``Positives.item_ids[i - 1]``. A movie's
text is "title (genre, genre)", a business's "name (category, ...)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa

PADDING_TEXT = ""


@dataclass(frozen=True)
class Catalog:
    texts: tuple[str, ...]
    """[n_items + 1] item texts; texts[0] is the padding item's."""

    @property
    def n_items(self) -> int:
        return len(self.texts) - 1

    def with_room(self, rows: int) -> Catalog:
        """This catalogue plus ``rows`` free rows (no text yet) for items first seen later."""
        return Catalog((*self.texts, *(PADDING_TEXT,) * rows))

    @classmethod
    def anonymous(cls, n_items: int) -> Catalog:
        """A catalogue without metadata: items are named by index."""
        return cls((PADDING_TEXT, *(f"item {i}" for i in range(1, n_items + 1))))

    @classmethod
    def from_items(cls, items: pa.Table, item_ids: list[str]) -> Catalog:
        """Texts for ``item_ids`` from an ITEMS_SCHEMA table; unknown ids get their id as text."""
        known = {
            row["item_id"]: _describe(row["title"], row["categories"])
            for row in items.select(["item_id", "title", "categories"]).to_pylist()
        }
        return cls((PADDING_TEXT, *(known.get(item_id) or f"item {item_id}" for item_id in item_ids)))


def _describe(title: str | None, categories: list[str] | None) -> str:
    name = (title or "").strip()
    tags = ", ".join(c for c in categories or [] if c)
    return f"{name} ({tags})" if name and tags else name or tags


def reserved_rows(n_items: int, room: float) -> int:
    """Free rows a model of ``n_items`` known items keeps for new ones (``new_item_room``)."""
    return math.ceil(n_items * room)
