"""Interaction v1: the public input contract, topic ``interactions``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from schemas.codec import MAX_EVENT_BYTES, JsonObject
from schemas.errors import SchemaError
from schemas.model import WireModel
from schemas.registry import validate
from schemas.timestamps import check_ts_ms, parse_ts

__all__ = ["MAX_EVENT_BYTES", "Interaction"]


@dataclass(frozen=True)
class Interaction(WireModel):
    """One user-item interaction. Kafka key: ``user_id`` as UTF-8 (:meth:`key`).

    On the wire ``ts`` is epoch ms or ISO-8601 with a zone; the model keeps
    ``ts_ms`` (epoch ms, UTC) and always writes it back as an integer.
    Producers' extra fields pass the schema and are dropped here.
    """

    SCHEMA: ClassVar[tuple[str, int]] = ("interaction", 1)

    event_id: str
    user_id: str
    item_id: str
    ts_ms: int
    source: str
    rating: float | None = None
    """None: an implicit positive (the field was missing or null)."""

    def __post_init__(self) -> None:
        check_ts_ms(self.ts_ms)  # a model built in code must not hold seconds either

    def key(self) -> bytes:
        return self.user_id.encode("utf-8")

    def to_json(self) -> JsonObject:
        return {
            "event_id": self.event_id,
            "user_id": self.user_id,
            "item_id": self.item_id,
            "rating": self.rating,
            "ts": self.ts_ms,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, value: JsonObject) -> Self:
        try:
            validate(value, *cls.SCHEMA)
        except SchemaError as error:
            if error.field == "ts" and "ts" in value:  # present but wrong, not missing
                # The schema knows only "wrong pattern"; parse_ts says which fix applies
                # (add a zone, send milliseconds). The agreement test keeps both in step.
                parse_ts(_integral(value["ts"]))
            raise
        return cls._from_valid(value)

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        rating = value.get("rating")
        return cls(
            event_id=value["event_id"],
            user_id=value["user_id"],
            item_id=value["item_id"],
            ts_ms=parse_ts(_integral(value["ts"])),
            source=value["source"],
            rating=None if rating is None else float(rating),
        )


def _integral(ts: Any) -> Any:
    # 1714564800000.0 is an integer to draft-07 JSON Schema; keep the model's int an int.
    return int(ts) if isinstance(ts, float) and ts.is_integer() else ts
