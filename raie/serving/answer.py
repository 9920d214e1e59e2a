"""One recommendation answer, as the endpoint and ``raie recommend --format json`` print it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

POPULARITY = "popularity"
"""``fallback`` of an answer made without the model: the user has no context it knows."""


@dataclass(frozen=True)
class RecommendedItem:
    item_id: str
    score: float
    """The model's score (log-probability when region and global adapters are blended);
    for the popularity fallback, the item's positives in the current slice."""
    title: str | None = None


@dataclass(frozen=True)
class ServedBy:
    """Which adapter scored an answer: ``stack`` lists every active adapter (a residual
    region adapter serves on top of the global one) with its live version."""

    name: str
    version: int | None
    stack: tuple[tuple[str, int | None], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "stack": [{"name": name, "version": version} for name, version in self.stack],
        }


@dataclass(frozen=True)
class Recommendation:
    user_id: str
    items: tuple[RecommendedItem, ...]
    context: tuple[str, ...]
    """The item ids the answer used, oldest first (items the model does not know are left out)."""
    bank_version: int | None
    """Slices closed when the state that answered was made (the stream's routing carries the same)."""
    region: int | None = None
    """The region whose adapter served; None for the global adapter (low confidence) or a fallback."""
    confidence: float | None = None
    """p1: the routing confidence of the most confident region."""
    adapter: ServedBy | None = None
    fallback: str | None = None
    """None when the model answered; ``popularity`` for a user without a known context."""

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "items": [{"item_id": i.item_id, "score": i.score, "title": i.title} for i in self.items],
            "region": {"id": self.region, "confidence": self.confidence},
            "adapter": None if self.adapter is None else self.adapter.to_json(),
            "context": list(self.context),
            "bank_version": self.bank_version,
            "fallback": self.fallback,
        }
