"""A fast decode of Interaction for the common path; the full validator stays the judge.

``Interaction.from_bytes`` (``json`` + fastjsonschema + ``parse_ts``) gives every
refused record its exact reason and field, which the dead letter keeps. Most
records are fine, though, and for them one typed msgspec decode is enough.
:func:`decode_interaction` tries that decode first and hands every record it
does not accept to ``Interaction.from_bytes``, so a refusal always raises the
full validator's error, unchanged.

The fast path accepts a strict subset of what the full validator accepts;
each limit below exists because, without it, msgspec would accept something
``schemas.codec`` refuses (the agreement test in
tests/unit/test_interaction_fast.py checks this on thousands of mutations):

- **Only the six fields of interaction.v1.** msgspec skips an unknown field
  without checking it: invalid UTF-8, ``1e400`` or a 5000-digit integer inside
  a producer's extra field pass its skip, while the codec refuses all three.
  Records with extra fields are valid; they just take the full path.
- **``ts`` only as an integer in range.** ISO strings need ``parse_ts``, and
  integral floats (``1714564800000.0``) are rare enough to leave to it.
- **No ``\\uD800``-``\\uDFFF`` escape.** The codec refuses lone surrogates with
  its own reason; such payloads go to it before msgspec sees them.
- **Size first.** A payload over ``max_bytes`` is never parsed here.

msgspec already refuses, in the typed fields, what ``json`` refuses: invalid
UTF-8, control characters, malformed numbers, NaN/Infinity and numbers that
overflow a double (``1e400``), booleans as numbers, and a BOM. Duplicate keys
keep the last value, as ``json`` does. A JSON integer for ``rating`` becomes
the nearest double, as ``float(int)`` does (``-0`` gives ``0.0``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from schemas.codec import _LONE_SURROGATE_ESCAPE, MAX_EVENT_BYTES
from schemas.interaction import Interaction
from schemas.registry import load
from schemas.timestamps import MAX_TS_MS, MIN_TS_MS

__all__ = ["decode_interaction", "fast_interaction"]

_SURROGATE_ESCAPE = re.compile(_LONE_SURROGATE_ESCAPE.pattern.encode("ascii"))
"""The codec's pattern, on bytes: the fast path sends the same payloads to the full check."""

_PROPERTIES: dict[str, Any] = load(*Interaction.SCHEMA)["properties"]
"""String limits are read from the schema file itself, so the two paths cannot drift apart."""


def _length(name: str) -> msgspec.Meta:
    """The schema's minLength/maxLength of one string field (both count code points)."""
    prop = _PROPERTIES[name]
    return msgspec.Meta(min_length=prop["minLength"], max_length=prop["maxLength"])


_EventId = Annotated[str, _length("event_id")]
_UserId = Annotated[str, _length("user_id")]
_ItemId = Annotated[str, _length("item_id")]
_Source = Annotated[str, _length("source")]
_EpochMs = Annotated[int, msgspec.Meta(ge=MIN_TS_MS, le=MAX_TS_MS)]


class _WireInteraction(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """interaction.v1 as the fast path accepts it (see the module docstring for the limits)."""

    event_id: _EventId
    user_id: _UserId
    item_id: _ItemId
    ts: _EpochMs
    source: _Source
    rating: float | None = None  # msgspec takes a JSON integer here too, never a boolean


_DECODER = msgspec.json.Decoder(_WireInteraction)


def fast_interaction(raw: bytes, max_bytes: int = MAX_EVENT_BYTES) -> Interaction | None:
    """The Interaction when the fast path accepts ``raw``; None when only the full validator can tell."""
    if len(raw) > max_bytes or (b"\\u" in raw and _SURROGATE_ESCAPE.search(raw)):
        return None
    try:
        wire = _DECODER.decode(raw)
    except ValueError:  # msgspec.DecodeError/ValidationError and UnicodeDecodeError: the full path says why
        return None
    return Interaction(
        event_id=wire.event_id,
        user_id=wire.user_id,
        item_id=wire.item_id,
        ts_ms=wire.ts,
        source=wire.source,
        rating=wire.rating,
    )


def decode_interaction(raw: bytes, max_bytes: int = MAX_EVENT_BYTES) -> Interaction:
    """Same result as ``Interaction.from_bytes(raw, max_bytes)``, faster for the common record.

    Raises exactly what ``Interaction.from_bytes`` raises (a :class:`SchemaError`
    with its reason and field), because every record the fast path does not
    accept is decoded by it.
    """
    event = fast_interaction(raw, max_bytes)
    return Interaction.from_bytes(raw, max_bytes) if event is None else event
