"""RoutedWindow v1: one routed training window, topic ``routed-windows``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from schemas.codec import JsonObject
from schemas.errors import SchemaError
from schemas.model import WireModel


def window_id(user_id: str, slice_index: int, position: int) -> str:
    """The id a window must carry: ``<user_id>/<slice>/<position>``."""
    return f"{user_id}/{slice_index}/{position}"


@dataclass(frozen=True)
class RoutedWindow(WireModel):
    """A context -> target window of one user, with its origin and its routing.

    ``embedding``, ``region_id``, ``p1``, ``p2`` and ``bank_version`` are None
    before there is something to route with (slice 0 has no Set-up model yet).
    """

    SCHEMA: ClassVar[tuple[str, int]] = ("routed_window", 1)

    window_id: str
    user_id: str
    slice: int
    position: int
    context: tuple[str, ...]
    target: str
    ts_ms: int
    event_id: str
    embedding: tuple[float, ...] | None
    region_id: int | None
    p1: float | None
    p2: float | None
    bank_version: int | None
    partition: int
    offset: int
    ingested_at_ms: int

    def __post_init__(self) -> None:
        # Consumers deduplicate on window_id, so it must be derived, never free text.
        expected = window_id(self.user_id, self.slice, self.position)
        if self.window_id != expected:
            raise SchemaError(f"must be '<user_id>/<slice>/<position>', here {expected!r}", "window_id")

    def to_json(self) -> JsonObject:
        return {
            "window_id": self.window_id,
            "user_id": self.user_id,
            "slice": self.slice,
            "position": self.position,
            "context": list(self.context),
            "target": self.target,
            "ts_ms": self.ts_ms,
            "event_id": self.event_id,
            "embedding": None if self.embedding is None else list(self.embedding),
            "region_id": self.region_id,
            "p1": self.p1,
            "p2": self.p2,
            "bank_version": self.bank_version,
            "partition": self.partition,
            "offset": self.offset,
            "ingested_at_ms": self.ingested_at_ms,
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        embedding = value["embedding"]
        return cls(
            window_id=value["window_id"],
            user_id=value["user_id"],
            slice=int(value["slice"]),
            position=int(value["position"]),
            context=tuple(value["context"]),
            target=value["target"],
            ts_ms=int(value["ts_ms"]),
            event_id=value["event_id"],
            embedding=None if embedding is None else tuple(float(x) for x in embedding),
            region_id=_int_or_none(value["region_id"]),
            p1=_float_or_none(value["p1"]),
            p2=_float_or_none(value["p2"]),
            bank_version=_int_or_none(value["bank_version"]),
            partition=int(value["partition"]),
            offset=int(value["offset"]),
            ingested_at_ms=int(value["ingested_at_ms"]),
        )


def _int_or_none(value: int | float | None) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: int | float | None) -> float | None:
    return None if value is None else float(value)
