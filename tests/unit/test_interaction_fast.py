"""decode_interaction: the msgspec fast path never accepts what the full validator refuses."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from schemas import MAX_EVENT_BYTES, Interaction
from schemas.interaction_fast import _WireInteraction, decode_interaction, fast_interaction
from schemas.registry import load
from schemas.timestamps import MAX_TS_MS, MIN_TS_MS
from tests.unit.schema_samples import INTERACTION_JSON, TS_MS, sample

pytestmark = pytest.mark.unit

SEED = 20240501
MUTATIONS = 6000
"""Enough mutations to hit every kind of edit many times over; the test still runs in about a second."""

COMMON = sample(Interaction).to_bytes()
"""What the replay tool and Interaction.to_bytes send: integer ts, the six fields, nothing else."""

Outcome = tuple[Any, ...]

REQUIRED = [name for name in INTERACTION_JSON if name != "rating"]


def raw(**changes: Any) -> bytes:
    """The valid sample event (ISO ts) with some fields replaced, as bytes."""
    return json.dumps({**INTERACTION_JSON, **changes}).encode()


def fast_raw(**changes: Any) -> bytes:
    """The common event (integer ts) with some fields replaced; ``None`` values stay null."""
    return json.dumps({**sample(Interaction).to_json(), **changes}, ensure_ascii=False).encode()


def outcome(decode: Callable[[bytes], Interaction], payload: bytes) -> Outcome:
    """What a decode does with ``payload``, comparable across decoders.

    The model is compared through ``to_bytes`` as well, which tells ``-0.0``
    from ``0.0`` where ``==`` does not. Errors other than SchemaError are kept
    too: the fast path must not change them either.
    """
    try:
        event = decode(payload)
    except Exception as error:  # noqa: BLE001  # recorded and compared, never swallowed
        return ("error", type(error), getattr(error, "reason", None), getattr(error, "field", None), str(error))
    return ("ok", event, event.to_bytes())


def assert_agree(payload: bytes) -> None:
    full = outcome(Interaction.from_bytes, payload)
    assert outcome(decode_interaction, payload) == full, payload[:200]
    fast = fast_interaction(payload)
    if fast is not None:
        assert full[0] == "ok", f"fast path accepted what the validator refuses: {payload[:200]!r} -> {full}"
        assert (fast, fast.to_bytes()) == (full[1], full[2]), payload[:200]


VALID = [
    COMMON,
    fast_raw(rating=None),
    fast_raw(rating=5),
    fast_raw(rating=-0.0),
    fast_raw(rating=0.1),
    fast_raw(rating=1e308),
    fast_raw(rating=12345678901234567890123),  # an integer beyond 64 bits: the nearest double
    fast_raw(ts=MIN_TS_MS),
    fast_raw(ts=MAX_TS_MS),
    fast_raw(user_id="😀" * 256, item_id="ユ" * 256, source="s" * 128),  # limits count code points
    json.dumps(sample(Interaction).to_json()).encode(),  # \\u escapes instead of UTF-8
    b'{"ev\\u0065nt_id":"e","user_id":"u","item_id":"i","ts":1714564800000,"source":"web"}',
    b' {"event_id" : "e", "user_id":"u","item_id":"i","ts":1714564800000,"source":"web"}\n\t',
    b'{"event_id":"e","user_id":"u","item_id":"i","ts":1714564800000,"source":"web","user_id":"v"}',
]
"""Records the fast path accepts."""

VALID_SLOW = [
    raw(),  # ISO time
    raw(ts="2024-05-01T14:00:00+02:00"),
    raw(ts=float(TS_MS)),
    raw(session={"id": 3}, device="tv"),  # producers' extra fields
    COMMON.replace(b"e-1", b"\\ud83d\\ude00"),  # a valid surrogate pair escape, left to the full path
]
"""Valid records the fast path leaves to the full validator."""

INVALID = (
    [
        b'{"event_id": "e-1",',
        b"[1, 2]",
        b'"e-1"',
        b"",
        b"null",
        b"\xff\xfe{}",
        b'{"user_id": "\xe3\x83"}',
        b"\xef\xbb\xbf" + COMMON,  # a BOM
        COMMON.replace(b"4.5", b"NaN"),
        COMMON.replace(b"4.5", b"Infinity"),
        COMMON.replace(b"4.5", b"1e400"),
        COMMON.replace(b"4.5", b"1" * 400 + b".0"),
        COMMON.replace(b"4.5", b"1" * 400),  # OverflowError today, the same from both paths
        COMMON.replace(b"4.5", b"01"),
        COMMON.replace(b"4.5", b"true"),
        COMMON.replace(b"4.5", b'"5"'),
        COMMON.replace(b"e-1", b"e\x01"),  # a raw control character
        COMMON.replace(b"e-1", b"\xed\xa0\x80"),  # a UTF-8-encoded surrogate
        COMMON.replace(b"e-1", b"\\ud800"),
        COMMON.replace(b"e-1", b"\\udc00\\ud800"),
        COMMON.replace(b"e-1", b"\\x"),
        COMMON + b"x",
        COMMON + b"\x0b",
        COMMON[:-1] + b',"x":"\xff"}',  # invalid UTF-8 in an extra field
        COMMON[:-1] + b',"x":1e400}',
        COMMON[:-1] + b',"x":' + b"1" * 5000 + b"}",  # ValueError today, the same from both paths
        COMMON[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
        COMMON[:-1] + b',"ts":1714564800}',  # a duplicate key: the last value counts
        fast_raw(pad="x" * MAX_EVENT_BYTES),
        fast_raw(user_id="😀" * 257),
        fast_raw(source="s" * 129),
        fast_raw(event_id=""),
        fast_raw(item_id=None),
        fast_raw(user_id=17),
        fast_raw(user_id=["u"]),
        fast_raw(ts=MIN_TS_MS - 1),
        fast_raw(ts=MAX_TS_MS + 1),
        fast_raw(ts=-0),
        fast_raw(ts=True),
        fast_raw(ts=1714564800000.5),
        fast_raw(ts="2024-05-01T12:00:00"),
        fast_raw(ts=2**64),
    ]
    + [json.dumps({k: v for k, v in INTERACTION_JSON.items() if k != name}).encode() for name in REQUIRED]
)
"""Refused records: every payload-level, field-level and codec-level refusal, and near misses of each."""


@pytest.mark.parametrize("payload", VALID, ids=range(len(VALID)))
def test_valid_records_take_the_fast_path_and_equal_the_full_decode(payload: bytes) -> None:
    assert fast_interaction(payload) is not None
    assert_agree(payload)


@pytest.mark.parametrize("payload", VALID_SLOW, ids=range(len(VALID_SLOW)))
def test_other_valid_records_fall_back_with_the_same_result(payload: bytes) -> None:
    assert fast_interaction(payload) is None
    assert outcome(decode_interaction, payload)[0] == "ok"
    assert_agree(payload)


@pytest.mark.parametrize("payload", INVALID, ids=range(len(INVALID)))
def test_invalid_records_raise_exactly_the_full_validators_error(payload: bytes) -> None:
    assert fast_interaction(payload) is None
    assert outcome(Interaction.from_bytes, payload)[0] == "error"
    assert_agree(payload)


def test_the_fast_struct_mirrors_the_schema_file() -> None:
    # Same fields, and the same string limits: a schema change cannot leave the fast path behind.
    properties = load(*Interaction.SCHEMA)["properties"]
    info = msgspec.inspect.type_info(_WireInteraction)
    assert isinstance(info, msgspec.inspect.StructType)
    assert {f.name for f in info.fields} == set(properties)
    for field in info.fields:
        if isinstance(field.type, msgspec.inspect.StrType):
            prop = properties[field.name]
            assert (field.type.min_length, field.type.max_length) == (prop["minLength"], prop["maxLength"])
        if field.name == "ts":
            assert isinstance(field.type, msgspec.inspect.IntType)
            ts = properties["ts"]
            assert (field.type.ge, field.type.le) == (ts["minimum"], ts["maximum"])


TRICKY_VALUES: list[bytes] = [
    b"null", b"true", b"false", b"0", b"-0", b"-0.0", b"1", b"4.5", b"1e5", b"1E+2", b"1e400", b"-1e400", b"1e-400",
    b"NaN", b"Infinity", b"01", b"1.", b".5", b"+1", b"0x10", b"1" * 30, b"1" * 400, b"1" * 400 + b".0",
    b"100000000000", b"99999999999", b"7258118400000", b"7258118400001", b"1714564800000", b"1714564800000.0",
    b"1714564800000.5", b"1.7145648e12", b"-1714564800000", b"18446744073709551616",
    b'""', b'"a"', b'"\\u0000"', b'"\\ud800"', b'"\\udc00"', b'"\\ud83d\\ude00"', b'"\\ud83d"', b'"\\x"', b'"\\/"',
    b'"\xff"', b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\x01"', b'"\x7f"', '"ユーザー"'.encode(), b'"a\\"b"',
    b'"2024-05-01T12:00:00Z"', b'"2024-05-01T12:00:00"', b'"2024-02-30T12:00:00Z"', b'"1714564800000"',
    b"[]", b'["a"]', b"{}", b'{"a":[1,{"b":null}]}', b"[" * 50 + b"]" * 50, b"[" * 3000 + b"]" * 3000,
]  # fmt: skip
"""JSON values, and near misses of JSON, on both sides of every rule of the codec and the schema."""

TRICKY_VALUES += [b'"' + b"x" * n + b'"' for n in (127, 128, 129, 255, 256, 257)]
TRICKY_VALUES += [b'"' + "😀".encode() * n + b'"' for n in (256, 257)]

KEYS = [*INTERACTION_JSON, "x", "", "ev\\u0065nt_id", "ts ", "Rating"]
"""Field names to set, add or duplicate: the real ones, extras, an escaped real one, near misses."""

SPLICES = [b"", b" ", b"\n", b"\x0b", b"\xff", b"\\", b'"', b",", b":", b"{", b"}", b"[", b"\x00", b"\xef\xbb\xbf"]
"""Bytes to insert: JSON's structural characters, non-JSON whitespace, broken UTF-8, a BOM."""


def bases() -> list[bytes]:
    """Valid records to mutate: the common one, ISO and integral-float times, extras, spacing, escapes."""
    common = sample(Interaction).to_json()
    return [
        COMMON,
        raw(),
        json.dumps(common).encode(),
        json.dumps(common, indent=1, ensure_ascii=False).encode(),
        json.dumps({**common, "rating": None}).encode(),
        json.dumps({**common, "ts": float(TS_MS)}).encode(),
        json.dumps({**common, "extra": [1, {"a": "b"}]}).encode(),
    ]


STRING_PIECES = [
    "a",
    "Z",
    "0",
    "-",
    " ",
    "/",
    ":",
    "ユ",
    "é",
    "😀",
    "\\n",
    '\\"',
    "\\\\",
    "\\u00e9",
    "\\u30e6",
    "\\ud83d\\ude00",
]
"""Pieces of a plausible string on the wire: ASCII, multi-byte UTF-8, escapes (one surrogate pair)."""

STRING_LENGTHS = [1, 1, 2, 5, 20, 127, 128, 129, 255, 256, 257]
"""Piece counts: short ones, and both sides of the 128 and 256 character limits."""


FIELD_KINDS = {"ts": 1, "rating": 2}
"""Which kind of plausible value suits a field (see :func:`plausible`); the others hold strings."""


def plausible(rng: random.Random, key: str) -> bytes:
    """A value that may well pass: usually of the field's own kind, sometimes of another."""
    kind = FIELD_KINDS.get(key, 0) if rng.random() < 0.8 else rng.randrange(4)
    if kind == 0:  # a string
        pieces = rng.choices(STRING_PIECES, k=rng.choice(STRING_LENGTHS))
        return ('"' + "".join(pieces) + '"').encode()
    if kind == 1:  # an event time in or near range
        ms = rng.randint(MIN_TS_MS - 10, MAX_TS_MS + 10) if rng.random() < 0.7 else rng.choice([MIN_TS_MS, MAX_TS_MS])
        return str(ms).encode()
    if kind == 2:  # a double, spelled as repr spells it
        return repr(rng.uniform(-10, 10) * 10 ** rng.randint(-30, 30)).encode()
    mantissa, exponent = rng.randint(-(10**20), 10**20), rng.randint(-30, 30)  # a number in JSON's other spellings
    return f"{mantissa}e{exponent}".encode() if rng.random() < 0.5 else str(mantissa).encode()


def set_field(payload: bytes, key: bytes, value: bytes) -> bytes:
    """Replace the first value of ``key`` in place (a crude cut at the next ',' or '}'); unchanged if absent."""
    head, sep, tail = payload.partition(b'"' + key + b'":')
    if not sep:
        return payload
    end = min((i for i in (tail.find(b","), tail.find(b"}")) if i >= 0), default=len(tail))
    return head + sep + value + tail[end:]


def append_tricky(payload: bytes, rng: random.Random) -> bytes:
    """A field set to a tricky value at the end: adds a field, or duplicates one the record has."""
    body = payload.rstrip()
    if not body.endswith(b"}"):
        return payload
    return body[:-1] + b',"' + rng.choice(KEYS).encode() + b'":' + rng.choice(TRICKY_VALUES) + b"}"


def replace_tricky(payload: bytes, rng: random.Random) -> bytes:
    return set_field(payload, rng.choice(list(INTERACTION_JSON)).encode(), rng.choice(TRICKY_VALUES))


def replace_plausible(payload: bytes, rng: random.Random) -> bytes:
    key = rng.choice(list(INTERACTION_JSON))
    return set_field(payload, key.encode(), plausible(rng, key))


def splice(payload: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(payload) + 1)
    return payload[:at] + rng.choice(SPLICES) + payload[at:]


def drop_or_replace_byte(payload: bytes, rng: random.Random) -> bytes:
    if not payload:
        return payload
    at = rng.randrange(len(payload))
    return payload[:at] + bytes([rng.randrange(256)] * rng.randint(0, 1)) + payload[at + 1 :]


def cut(payload: bytes, rng: random.Random) -> bytes:
    return payload[: rng.randrange(len(payload) + 1)]


def remove_field(payload: bytes, rng: random.Random) -> bytes:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):  # already mutated into something json cannot read: leave it
        return payload
    if not isinstance(value, dict):
        return payload
    value.pop(rng.choice(list(INTERACTION_JSON)), None)
    # surrogatepass: a lone surrogate from an earlier edit becomes invalid UTF-8, one more refusal to compare.
    return json.dumps(value, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


EDITS: dict[Callable[[bytes, random.Random], bytes], int] = {
    append_tricky: 2,
    replace_tricky: 2,
    splice: 1,
    drop_or_replace_byte: 1,
    cut: 1,
    remove_field: 1,
    replace_plausible: 12,
}
"""Each edit and its weight. Plausible values weigh most so that many mutations still
pass and the fast path's acceptances, not only its refusals, are checked."""


def mutate(payload: bytes, rng: random.Random) -> bytes:
    """One to three random edits of a valid record."""
    for edit in rng.choices(list(EDITS), weights=list(EDITS.values()), k=rng.randint(1, 3)):
        payload = edit(payload, rng)
    return payload


def test_random_mutations_agree_with_the_full_validator() -> None:
    rng = random.Random(SEED)
    starts = bases()
    accepted = 0
    for _ in range(MUTATIONS):
        payload = mutate(rng.choice(starts), rng)
        assert_agree(payload)
        accepted += fast_interaction(payload) is not None
    # The mutations must exercise both sides; otherwise the agreement above proves little.
    assert MUTATIONS // 20 < accepted < MUTATIONS - MUTATIONS // 20
