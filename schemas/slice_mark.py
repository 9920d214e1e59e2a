"""SliceMark v1: the end of a time slice, carried inside ``interactions``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal, Self

from schemas.codec import JsonObject
from schemas.model import WireModel

KIND_HEADER = "raie-kind"
"""Kafka header that tells a slice mark from an interaction on the same topic."""

KIND_SLICE_MARK = b"slice-mark"
"""Value of :data:`KIND_HEADER` on a slice mark; interactions carry no such header."""


@dataclass(frozen=True)
class SliceMark(WireModel):
    """Sent once to every ``interactions`` partition after the slice's last event.

    Marks share the partitions with the events (instead of a topic of their own)
    so that each partition's consumer sees its mark after all of its events,
    in order, without joining two topics.
    """

    SCHEMA: ClassVar[tuple[str, int]] = ("slice_mark", 1)
    HEADERS: ClassVar[tuple[tuple[str, bytes], ...]] = ((KIND_HEADER, KIND_SLICE_MARK),)
    """Headers to send a mark with (kafka-python's ``headers=list(SliceMark.HEADERS)``)."""

    slice: int
    end_ms: int | None
    origin: Literal["replay", "watermark"]
    partition: int | None
    sent_at_ms: int

    @staticmethod
    def is_mark(headers: Iterable[tuple[str, bytes | None]] | None) -> bool:
        """Whether a consumed message with these headers is a slice mark."""
        return any(name == KIND_HEADER and value == KIND_SLICE_MARK for name, value in headers or ())

    def to_json(self) -> JsonObject:
        return {
            "slice": self.slice,
            "end_ms": self.end_ms,
            "origin": self.origin,
            "partition": self.partition,
            "sent_at_ms": self.sent_at_ms,
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        end_ms, partition = value["end_ms"], value["partition"]
        return cls(
            slice=int(value["slice"]),
            end_ms=None if end_ms is None else int(end_ms),
            origin=value["origin"],
            partition=None if partition is None else int(partition),
            sent_at_ms=int(value["sent_at_ms"]),
        )
