"""Event times on the wire: epoch milliseconds, or ISO-8601 with a zone.

Producers send whichever is natural to them; everything downstream sees one
integer, epoch milliseconds (UTC). Both forms are held to one plausible range
so that the two common producer mistakes are refused with the fix named:
epoch seconds sent as milliseconds, and local times without a zone.
"""

from __future__ import annotations

import datetime as dt
import re

from schemas.codec import json_kind
from schemas.errors import SchemaError

MIN_TS_MS = 100_000_000_000
"""1973-03-03T09:46:40Z. Every epoch-seconds value up to the year 5138 is below
it, so an integer this small is far more likely seconds than a 1970s event:
refusing it means seconds are never taken for milliseconds silently."""

MAX_TS_MS = 7_258_118_400_000
"""2200-01-01T00:00:00Z. Epoch microseconds or nanoseconds overshoot it by
orders of magnitude, so they are refused instead of landing centuries ahead."""

ISO_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
"""The RFC 3339 profile of ISO-8601 accepted on the wire; schemas/json/interaction.v1.json
carries the same pattern (a test checks), written with ASCII classes so that
JSON Schema's ECMA-262 regexes and Python's agree."""

_ISO = re.compile(ISO_PATTERN)
_NAIVE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")
"""A date-time with no zone: the mistake worth a specific reason."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MS = dt.timedelta(milliseconds=1)

_EXPECTED = "must be epoch milliseconds (an integer) or ISO-8601 with a zone, such as 2024-05-01T12:00:00Z"


def check_ts_ms(ms: int, field: str = "ts") -> int:
    """Return ``ms`` when it is a plausible epoch-millisecond event time."""
    if ms < 0:
        raise SchemaError(f"{ms} is before 1970; not a plausible epoch millisecond value", field)
    if ms < MIN_TS_MS:
        raise SchemaError(f"{ms} looks like epoch seconds; send milliseconds (x1000)", field)
    if ms > MAX_TS_MS:
        raise SchemaError(
            f"{ms} is after 2200-01-01; not a plausible epoch millisecond value (microseconds? divide by 1000)",
            field,
        )
    return ms


def parse_ts(value: int | str, field: str = "ts") -> int:
    """Epoch milliseconds (UTC) of a wire timestamp; :class:`SchemaError` if it is not one.

    Sub-millisecond digits of an ISO string are truncated.
    """
    if isinstance(value, int) and not isinstance(value, bool):  # True is an int to Python, not a time
        return check_ts_ms(value, field)
    if not isinstance(value, str):
        raise SchemaError(f"{_EXPECTED}, not {json_kind(value)}", field)
    if _ISO.fullmatch(value) is None:  # fullmatch: a trailing newline must not slip past "$"
        if _NAIVE.fullmatch(value):
            raise SchemaError(f"{value!r} has no time zone; add a zone such as Z or +00:00", field)
        raise SchemaError(f"{value[:40]!r} {_EXPECTED}", field)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as error:  # right shape, impossible date: 2024-02-30, hour 24, offset +25:00
        raise SchemaError(f"{value!r} is not a valid date and time ({error})", field) from None
    ms = (parsed - _EPOCH) // _ONE_MS
    if not MIN_TS_MS <= ms <= MAX_TS_MS:
        raise SchemaError(f"{value!r} is outside the accepted range 1973-03-03 to 2200-01-01", field)
    return ms
