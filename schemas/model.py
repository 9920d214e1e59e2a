"""What every wire message shares: a schema, and the trip to and from bytes.

Models are frozen dataclasses deriving from :class:`WireModel`; each writes
its own ``to_json`` and ``_from_valid`` (plain code, checked by mypy) and
inherits validation and encoding from here, so no message reaches a model or
the wire without passing its schema file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Self

from schemas.codec import MAX_EVENT_BYTES, JsonObject, decode, encode
from schemas.registry import validate


class WireModel(ABC):
    """Base of the frozen dataclasses in this package."""

    SCHEMA: ClassVar[tuple[str, int]]
    """(name, version) of the file ``schemas/json/<name>.v<version>.json``."""

    @abstractmethod
    def to_json(self) -> JsonObject:
        """The message as a JSON object, every field present (null when absent)."""

    @classmethod
    @abstractmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        """Build from an object that already passed the schema."""

    def to_bytes(self) -> bytes:
        # Validated on the way out too: a producer bug fails here, in the producer,
        # instead of as a dead letter in every consumer. It costs a few microseconds.
        obj = self.to_json()
        validate(obj, *self.SCHEMA)
        return encode(obj)

    @classmethod
    def from_json(cls, value: JsonObject) -> Self:
        validate(value, *cls.SCHEMA)
        return cls._from_valid(value)

    @classmethod
    def from_bytes(cls, raw: bytes, max_bytes: int = MAX_EVENT_BYTES) -> Self:
        return cls.from_json(decode(raw, max_bytes))
