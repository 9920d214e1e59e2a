"""The one error a message that breaks the wire contract raises."""

from __future__ import annotations


class SchemaError(ValueError):
    """A message does not match its schema.

    ``reason`` is a short sentence a producer can act on; ``field`` is the
    JSON path of the offending value (``"ts"``, ``"context[3]"``), or None
    when the problem is the payload as a whole (size, encoding, syntax). The
    dead-letter queue stores both, so they must stay short and plain.
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason if field is None else f"field '{field}': {reason}")

    def __reduce__(self) -> tuple[type[SchemaError], tuple[str, str | None]]:
        # Ray and multiprocessing pickle exceptions; the default reduction would
        # rebuild from the formatted message and lose the field.
        return (SchemaError, (self.reason, self.field))
