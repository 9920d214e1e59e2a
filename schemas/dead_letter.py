"""DeadLetter v1: a refused input message, kept exactly, topic ``interactions.dlq``."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import ClassVar, Self

from schemas.codec import JsonObject
from schemas.errors import SchemaError
from schemas.model import WireModel

MAX_DEAD_LETTER_BYTES = 2 * 1024 * 1024
"""Size limit when reading a dead letter: the original can be as large as the
broker allows (1 MiB by default), base64 adds a third, plus the envelope."""


@dataclass(frozen=True)
class DeadLetter(WireModel):
    """Why a message was refused, where it was read, and its exact key and value."""

    SCHEMA: ClassVar[tuple[str, int]] = ("dead_letter", 1)

    reason: str
    field: str | None
    topic: str
    partition: int
    offset: int
    key_b64: str | None
    original_b64: str
    failed_at_ms: int

    def __post_init__(self) -> None:
        # The schema's base64 pattern is linear-time (~2 ms for a 1 MiB original; the
        # exact pattern takes ~25 ms, a cost a flood of oversized events would multiply).
        # The one rule it leaves out, a length that is a multiple of 4, is checked here.
        for name, value in (("key_b64", self.key_b64), ("original_b64", self.original_b64)):
            if value is not None and len(value) % 4:
                raise SchemaError(f"is not padded base64: length {len(value)} is not a multiple of 4", name)

    @classmethod
    def of(
        cls,
        error: SchemaError,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        original: bytes,
        failed_at_ms: int,
    ) -> Self:
        """The dead letter of ``original`` (read at topic/partition/offset), refused with ``error``."""
        return cls(
            reason=error.reason,
            field=error.field,
            topic=topic,
            partition=partition,
            offset=offset,
            key_b64=None if key is None else base64.b64encode(key).decode("ascii"),
            original_b64=base64.b64encode(original).decode("ascii"),
            failed_at_ms=failed_at_ms,
        )

    def original(self) -> bytes:
        """The refused value, byte for byte (to inspect, fix and re-publish)."""
        return base64.b64decode(self.original_b64, validate=True)

    def original_key(self) -> bytes | None:
        return None if self.key_b64 is None else base64.b64decode(self.key_b64, validate=True)

    def to_json(self) -> JsonObject:
        return {
            "reason": self.reason,
            "field": self.field,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key_b64": self.key_b64,
            "original_b64": self.original_b64,
            "failed_at_ms": self.failed_at_ms,
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        return cls(
            reason=value["reason"],
            field=value["field"],
            topic=value["topic"],
            partition=int(value["partition"]),
            offset=int(value["offset"]),
            key_b64=value["key_b64"],
            original_b64=value["original_b64"],
            failed_at_ms=int(value["failed_at_ms"]),
        )

    @classmethod
    def from_bytes(cls, raw: bytes, max_bytes: int = MAX_DEAD_LETTER_BYTES) -> Self:
        # Dead letters wrap originals of up to the broker's limit, not MAX_EVENT_BYTES.
        return super().from_bytes(raw, max_bytes)
