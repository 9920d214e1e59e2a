"""Item v1: item metadata, compacted topic ``items``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from schemas.codec import JsonObject
from schemas.model import WireModel


@dataclass(frozen=True)
class Item(WireModel):
    """The latest known metadata of one item. Kafka key: ``item_id`` as UTF-8 (:meth:`key`)."""

    SCHEMA: ClassVar[tuple[str, int]] = ("item", 1)

    item_id: str
    title: str | None = None
    categories: tuple[str, ...] | None = None

    def key(self) -> bytes:
        return self.item_id.encode("utf-8")

    def to_json(self) -> JsonObject:
        return {
            "item_id": self.item_id,
            "title": self.title,
            "categories": None if self.categories is None else list(self.categories),
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        categories = value.get("categories")
        return cls(
            item_id=value["item_id"],
            title=value.get("title"),
            categories=None if categories is None else tuple(categories),
        )
