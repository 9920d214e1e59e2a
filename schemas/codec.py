"""Bytes on the wire <-> decoded JSON objects, refusing what is not one.

The standard library's ``json`` is used on purpose: its C scanner decodes a
~200-byte event in about a microsecond, and it is one dependency less.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from schemas.errors import SchemaError

JsonObject = dict[str, Any]
"""A decoded JSON object; values are what ``json.loads`` produces."""

MAX_EVENT_BYTES = 64 * 1024
"""Default size limit of one message: an interaction is ~200 bytes, so 64 KiB
leaves room for producers' extra fields while a payload flood is refused before
it is parsed."""

_LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A ``\\uD800``-``\\uDFFF`` escape: legal JSON syntax that can decode to a string
with no UTF-8 form (a lone surrogate), which would crash whoever re-encodes it
(a Kafka key, the store). Only payloads containing one pay for the full check."""

_JSON_KINDS: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def json_kind(value: object) -> str:
    """The JSON name of a decoded value's type, with an article (for reasons)."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


class _NonFiniteNumber(ValueError):
    """Raised from inside ``json.loads`` for NaN, Infinity or an overflowing literal."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e400" parses to inf; JSON has no infinity
        raise _NonFiniteNumber(text)
    return value


MAX_INTEGER_DIGITS = 308
"""Longer integers exceed every 64-bit float (the models read numbers as floats), and
past 4,300 digits Python refuses to convert them at all: both are refused as numbers."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NonFiniteNumber(text)
    return int(text)


def _no_constant(text: str) -> float:
    # NaN, Infinity and -Infinity are Python extensions, not JSON.
    raise _NonFiniteNumber(text)


# One decoder and one encoder for the process: json.loads/json.dumps with options
# build a new one per call, which costs more than parsing a 200-byte event.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode(raw: bytes, max_bytes: int) -> JsonObject:
    """Parse one message value; every way it can fail is a :class:`SchemaError`.

    The size is checked first so that an oversized payload costs nothing more.
    """
    if len(raw) > max_bytes:
        raise SchemaError(f"payload of {len(raw)} bytes exceeds the {max_bytes}-byte limit")
    try:
        # Decoding explicitly: json.loads(bytes) would also guess UTF-16/32.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SchemaError(f"payload is not valid UTF-8 (byte {error.start}: {error.reason})") from None
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise SchemaError(
            f"payload is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except _NonFiniteNumber as error:
        raise SchemaError(f"number {str(error)[:40]} is not a finite 64-bit float") from None
    except RecursionError:  # "[[[[..." within 64 KiB nests deeper than Python's stack allows
        raise SchemaError("payload nests arrays or objects too deeply") from None
    if not isinstance(value, dict):
        raise SchemaError(f"payload must be a JSON object, not {json_kind(value)}")
    if _LONE_SURROGATE_ESCAPE.search(text):
        encode(value)  # raises when a surrogate escape is unpaired
    return value


def encode(obj: JsonObject) -> bytes:
    """Compact UTF-8 JSON: no spaces, non-ASCII kept as is (shorter than escapes)."""
    try:
        return _ENCODER.encode(obj).encode("utf-8")
    except UnicodeEncodeError:
        raise SchemaError("a string contains a lone surrogate (\\uD800-\\uDFFF); it has no UTF-8 form") from None
    except ValueError:
        raise SchemaError("a number is NaN or infinite; JSON has no such value") from None
