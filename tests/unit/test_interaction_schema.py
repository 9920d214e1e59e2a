"""Interaction v1, the public contract: what producers may send and what is refused."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from schemas import MAX_EVENT_BYTES, Interaction, SchemaError
from schemas.registry import load, validate
from schemas.timestamps import ISO_PATTERN, MAX_TS_MS, MIN_TS_MS, parse_ts
from tests.unit.schema_samples import INTERACTION_JSON, TS_MS

pytestmark = pytest.mark.unit

REQUIRED = ("event_id", "user_id", "item_id", "ts", "source")


def raw(**changes: Any) -> bytes:
    """The valid sample event with some fields replaced, as bytes."""
    return json.dumps({**INTERACTION_JSON, **changes}).encode()


def refused(payload: bytes) -> SchemaError:
    with pytest.raises(SchemaError) as caught:
        Interaction.from_bytes(payload)
    assert caught.value.reason
    return caught.value


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"event_id": "e-1",', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b'"e-1"', "must be a JSON object, not a string"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"user_id": "\xe3\x83"}', "not valid UTF-8"),  # a multi-byte character cut short
        (raw().replace(b"4.5", b"NaN"), "not a finite"),
        (raw(pad="x" * MAX_EVENT_BYTES), f"exceeds the {MAX_EVENT_BYTES}-byte limit"),
    ],
)
def test_payload_level_errors_have_no_field(payload: bytes, reason: str) -> None:
    error = refused(payload)
    assert error.field is None
    assert reason in error.reason


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_field_is_named(name: str) -> None:
    value = dict(INTERACTION_JSON)
    del value[name]
    error = refused(json.dumps(value).encode())
    assert (error.field, error.reason) == (name, "is required but missing")


@pytest.mark.parametrize(
    ("field", "bad", "reason"),
    [
        ("user_id", 17, "must be a string, not an integer"),
        ("item_id", None, "must be a string, not null"),
        ("rating", "5", "must be a number or null, not a string"),
        ("rating", True, "must be a number or null, not a boolean"),
        ("ts", True, "not a boolean"),
        ("ts", 1714564800000.5, "not a number"),
        ("ts", [TS_MS], "not an array"),
        ("event_id", "", "must not be empty"),
        ("user_id", "", "must not be empty"),
        ("item_id", "", "must not be empty"),
        ("source", "", "must not be empty"),
        ("event_id", "e" * 257, "must be at most 256 characters long (got 257)"),
        ("user_id", "ユ" * 257, "must be at most 256 characters long (got 257)"),  # counted in characters
        ("source", "s" * 129, "must be at most 128 characters long (got 129)"),
        ("ts", "yesterday", "must be epoch milliseconds (an integer) or ISO-8601 with a zone"),
        ("ts", "2024-05-01T12:00:00", "has no time zone; add a zone such as Z or +00:00"),
        ("ts", "2024-05-01 12:00", "has no time zone; add a zone such as Z or +00:00"),
        ("ts", "2024-02-30T12:00:00Z", "is not a valid date and time"),
        ("ts", "1960-01-01T00:00:00Z", "outside the accepted range"),
        ("ts", 1714564800, "looks like epoch seconds; send milliseconds (x1000)"),
        ("ts", 1714564800000000, "is after 2200-01-01"),
        ("ts", -1, "is before 1970"),
    ],
)
def test_wrong_values_name_the_field(field: str, bad: Any, reason: str) -> None:
    error = refused(raw(**{field: bad}))
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"field '{field}': ")


@pytest.mark.parametrize(
    ("ts", "expected_ms"),
    [
        ("2024-05-01T12:00:00Z", TS_MS),
        ("2024-05-01T14:00:00+02:00", TS_MS),
        ("2024-05-01T06:30:00-05:30", TS_MS),
        ("2024-05-01T12:00:00.123Z", TS_MS + 123),
        ("2024-05-01T12:00:00.123999999Z", TS_MS + 123),  # sub-millisecond digits are truncated
        (TS_MS, TS_MS),
        (float(TS_MS), TS_MS),  # an integer to draft-07
    ],
)
def test_times_are_normalised_to_epoch_ms(ts: Any, expected_ms: int) -> None:
    event = Interaction.from_bytes(raw(ts=ts))
    assert event.ts_ms == expected_ms and type(event.ts_ms) is int
    assert event.to_json()["ts"] == expected_ms


def test_extra_fields_and_implicit_ratings_are_accepted() -> None:
    value = {k: v for k, v in INTERACTION_JSON.items() if k != "rating"}
    event = Interaction.from_json({**value, "session": {"id": 3}, "device": "tv"})
    assert event.rating is None
    assert Interaction.from_bytes(raw(rating=None)).rating is None
    assert Interaction.from_bytes(raw(rating=5)).rating == 5.0
    assert "session" not in event.to_json()


def test_unicode_ids_round_trip_as_utf8() -> None:
    event = Interaction.from_bytes(raw(user_id="ユーザー", item_id="café ☕"))
    assert event.user_id == "ユーザー" and event.key() == "ユーザー".encode()
    assert "ユーザー".encode() in event.to_bytes()  # not \\u escapes
    assert Interaction.from_bytes(event.to_bytes()) == event


def test_models_built_in_code_cannot_hold_seconds() -> None:
    with pytest.raises(SchemaError, match="looks like epoch seconds"):
        Interaction(event_id="e", user_id="u", item_id="i", ts_ms=TS_MS // 1000, source="web")


TS_SAMPLES: list[Any] = [
    TS_MS, MIN_TS_MS, MIN_TS_MS - 1, MAX_TS_MS, MAX_TS_MS + 1, 0, -1, 1714564800, True, False,
    "2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00-00:00", "2024-05-01T12:00:00.1Z",
    "2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.1234567890Z", "2024-05-01T12:00:00", "2024-05-01T12:00Z",
    "2024-05-01 12:00:00Z", "2024-05-01t12:00:00z", "2024-05-01T12:00:00+0200", "2024-05-01", "20240501T120000Z",
    "2024-05-01T12:00:00Z\n", " 2024-05-01T12:00:00Z", "２０２４-05-01T12:00:00Z", "", "1714564800000",
    "2024-02-30T12:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00+25:00", "0000-01-01T00:00:00Z",
    "1960-01-01T00:00:00Z", "2300-01-01T00:00:00Z",
]  # fmt: skip
"""Event times on both sides of every rule, including near misses of the pattern."""

PATTERN_ONLY = {
    "2024-02-30T12:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00+25:00", "0000-01-01T00:00:00Z",
    "1960-01-01T00:00:00Z", "2300-01-01T00:00:00Z",
}  # fmt: skip
"""Well-shaped strings only parse_ts can refuse: a regex knows no calendar or range."""

PYTHON_DOLLAR = {"2024-05-01T12:00:00Z\n"}
"""python-jsonschema matches patterns with re.search, whose "$" also matches before a
final newline; ECMA-262's (the JSON Schema standard's) does not, nor fastjsonschema's."""


def test_schema_and_parse_ts_agree_on_event_times() -> None:
    schema = load("interaction", 1)
    ts = schema["properties"]["ts"]
    assert (ts["pattern"], ts["minimum"], ts["maximum"]) == (ISO_PATTERN, MIN_TS_MS, MAX_TS_MS)
    reference = jsonschema.Draft7Validator(schema)
    for sample in TS_SAMPLES:
        event = {**INTERACTION_JSON, "ts": sample}
        schema_ok = _accepts(lambda e=event: validate(e, "interaction", 1))
        if sample not in PYTHON_DOLLAR:
            assert schema_ok == reference.is_valid(event), f"fastjsonschema and jsonschema differ on {sample!r}"
        parse_ok = _accepts(lambda s=sample: parse_ts(s))
        if sample in PATTERN_ONLY:
            assert schema_ok and not parse_ok, sample
        else:
            assert schema_ok == parse_ok, f"schema {schema_ok}, parse_ts {parse_ok} on {sample!r}"


def _accepts(check: Any) -> bool:
    try:
        check()
    except SchemaError:
        return False
    return True
