"""The wire contract: schema files and models agree, round-trip, and refuse extras."""

from __future__ import annotations

import dataclasses
import pickle
import types
import typing
from typing import Any

import jsonschema
import pytest

from schemas import (
    MAX_EVENT_BYTES,
    MODELS,
    AdapterPublished,
    DeadLetter,
    Interaction,
    RoutedWindow,
    SchemaError,
    SliceMark,
    TrainJob,
)
from schemas.codec import decode, encode
from schemas.model import WireModel
from schemas.registry import available, load, validate
from tests.unit.schema_samples import SAMPLES, sample

pytestmark = pytest.mark.unit

PUBLIC = {Interaction.SCHEMA, ("item", 1)}
"""Schemas whose producers are outside the project: extra fields allowed."""

WIRE_NAMES: dict[tuple[type[WireModel], str], str] = {(Interaction, "ts_ms"): "ts"}
"""Model fields whose JSON property is named differently."""


def wire_name(model: type[WireModel], field: dataclasses.Field[Any]) -> str:
    return WIRE_NAMES.get((model, field.name), field.name)


def json_types(prop: dict[str, Any]) -> set[str]:
    declared = prop.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def test_every_schema_file_has_one_model() -> None:
    assert sorted(model.SCHEMA for model in MODELS) == list(available())
    assert set(SAMPLES) == set(MODELS)


@pytest.mark.parametrize("name_version", available(), ids=lambda nv: f"{nv[0]}.v{nv[1]}")
def test_schema_file_is_a_documented_draft7_schema(name_version: tuple[str, int]) -> None:
    name, version = name_version
    doc = load(name, version)
    jsonschema.Draft7Validator.check_schema(doc)  # the reference implementation's meta-schema check
    assert doc["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert doc["$id"] == f"https://raie-stream.dev/schemas/{name}.v{version}.json"
    assert doc["title"] and doc["description"] and doc["type"] == "object"
    assert doc["additionalProperties"] is ((name, version) in PUBLIC)
    for key, prop in doc["properties"].items():
        assert prop.get("description"), f"{name}.{key} has no description"
        assert "items" not in prop or prop["items"].get("description"), f"{name}.{key}[] has no description"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_fields_agree_with_schema(model: type[WireModel]) -> None:
    doc = load(*model.SCHEMA)
    fields = dataclasses.fields(model)  # type: ignore[arg-type]  # every model is a dataclass
    assert {wire_name(model, f) for f in fields} == set(doc["properties"])
    without_default = {wire_name(model, f) for f in fields if f.default is dataclasses.MISSING}
    assert without_default == set(doc["required"])
    assert all(f.default is None for f in fields if f.default is not dataclasses.MISSING)
    hints = typing.get_type_hints(model)
    for f in fields:
        nullable = type(None) in typing.get_args(hints[f.name]) and isinstance(hints[f.name], types.UnionType)
        assert nullable == ("null" in json_types(doc["properties"][wire_name(model, f)])), f.name


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_sample_round_trips_unchanged(model: type[WireModel]) -> None:
    sample = SAMPLES[model]
    raw = sample.to_bytes()
    assert model.from_bytes(raw) == sample
    assert model.from_json(sample.to_json()) == sample
    assert model.from_bytes(raw).to_bytes() == raw
    jsonschema.Draft7Validator(load(*model.SCHEMA)).validate(sample.to_json())  # the reference agrees


@pytest.mark.parametrize("model", [m for m in MODELS if m.SCHEMA not in PUBLIC], ids=lambda m: m.__name__)
def test_internal_models_reject_additional_properties(model: type[WireModel]) -> None:
    value = {**SAMPLES[model].to_json(), "zz_extra": 1}
    with pytest.raises(SchemaError) as caught:
        model.from_json(value)
    assert caught.value.field == "zz_extra"
    assert "not a field" in caught.value.reason


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_required_field_is_named_when_missing(model: type[WireModel]) -> None:
    for name in load(*model.SCHEMA)["required"]:
        value = SAMPLES[model].to_json()
        del value[name]
        with pytest.raises(SchemaError) as caught:
            model.from_json(value)
        assert (caught.value.field, caught.value.reason) == (name, "is required but missing")


def test_nested_field_paths_and_reasons() -> None:
    window = SAMPLES[RoutedWindow].to_json()
    cases: list[tuple[str, Any, str, str]] = [
        ("context", ["a", "b", "c", ""], "context[3]", "must not be empty"),
        ("context", [], "context", "must have at least 1 item"),
        ("embedding", [0.5, "x"], "embedding[1]", "must be a number, not a string"),
        ("slice", -1, "slice", "must be >= 0 (got -1)"),
        ("offset", True, "offset", "must be an integer, not a boolean"),
    ]
    for key, bad, field, reason in cases:
        with pytest.raises(SchemaError) as caught:
            RoutedWindow.from_json({**window, key: bad})
        assert (caught.value.field, caught.value.reason) == (field, reason)
        assert str(caught.value) == f"field '{field}': {reason}"


def test_nulls_and_enums() -> None:
    setup = dataclasses.replace(
        sample(RoutedWindow), embedding=None, region_id=None, p1=None, p2=None, bank_version=None
    )
    assert RoutedWindow.from_bytes(setup.to_bytes()) == setup
    with pytest.raises(SchemaError, match='must be one of "replay", "watermark"'):
        SliceMark.from_json({**SAMPLES[SliceMark].to_json(), "origin": "cron"})


def test_integral_floats_are_integers_and_stay_ints() -> None:
    # Draft-07 counts 3.0 as an integer; the model must still hold an int.
    mark = SliceMark.from_json({**SAMPLES[SliceMark].to_json(), "slice": 3.0})
    assert mark.slice == 3 and type(mark.slice) is int


def test_derived_ids_are_enforced() -> None:
    with pytest.raises(SchemaError) as caught:
        dataclasses.replace(sample(RoutedWindow), position=5)
    assert caught.value.field == "window_id" and "'u/1/5'" in caught.value.reason
    with pytest.raises(SchemaError, match="field 'job_id'"):
        TrainJob.from_json({**SAMPLES[TrainJob].to_json(), "job_id": "2/global"})


def test_adapter_paths_stay_inside_the_store() -> None:
    published = SAMPLES[AdapterPublished].to_json()
    for path in ("/etc/passwd", "../x", "a/../../x", "a/..", "a\\b"):
        with pytest.raises(SchemaError) as caught:
            AdapterPublished.from_json({**published, "path": path})
        assert caught.value.field == "path"
    for path in ("a..b/c", "region_5/v1/.hidden", "x"):
        AdapterPublished.from_json({**published, "path": path})
    with pytest.raises(SchemaError, match="field 'sha256'"):
        AdapterPublished.from_json({**published, "sha256": "ABCDEF" + "0" * 58})


def test_dead_letter_keeps_the_exact_bytes() -> None:
    letter = sample(DeadLetter)
    back = DeadLetter.from_bytes(letter.to_bytes())
    assert back.original() == b'{"ts":"2024-05-01T12:00:00"}\xff'
    assert back.original_key() == b"u-1"
    big = dataclasses.replace(letter, original_b64="QUJD" * (MAX_EVENT_BYTES // 3))
    assert DeadLetter.from_bytes(big.to_bytes()).original() == b"ABC" * (MAX_EVENT_BYTES // 3)
    for bad in ("not base64!", "QUJ", "QU=D"):
        with pytest.raises(SchemaError, match="field 'original_b64'"):
            DeadLetter.from_json({**letter.to_json(), "original_b64": bad})


def test_slice_mark_headers() -> None:
    assert SliceMark.is_mark(list(SliceMark.HEADERS))
    assert not SliceMark.is_mark(None)
    assert not SliceMark.is_mark([("raie-kind", b"other"), ("trace", None)])


def test_to_bytes_refuses_what_consumers_would_refuse() -> None:
    with pytest.raises(SchemaError, match="field 'user_id'"):
        dataclasses.replace(sample(Interaction), user_id="").to_bytes()
    with pytest.raises(SchemaError, match="NaN"):
        dataclasses.replace(sample(RoutedWindow), p1=float("nan")).to_bytes()


def test_codec_is_compact_utf8_and_refuses_non_json_numbers() -> None:
    assert encode({"user_id": "ユーザー", "n": [1, 2.5]}) == '{"user_id":"ユーザー","n":[1,2.5]}'.encode()
    assert decode(b'{"e":"\\ud83d\\ude00"}', 100) == {"e": "😀"}  # a surrogate pair is fine
    for raw, reason in [
        (b'{"r":NaN}', "not a finite"),
        (b'{"r":1e400}', "not a finite"),
        (b'{"e":"\\ud800"}', "lone surrogate"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # a UTF-8 byte-order mark
        (b"", "not valid JSON"),
        (b"[" * 60_000, "nests"),  # deeper than Python's recursion limit
    ]:
        with pytest.raises(SchemaError, match=reason) as caught:
            decode(raw, MAX_EVENT_BYTES)
        assert caught.value.field is None
    assert decode(b"{}" + b" " * 98, 100) == {}  # exactly at the limit is allowed


def test_schema_error_survives_pickling() -> None:
    # Ray ships exceptions between processes by pickling them.
    error = pickle.loads(pickle.dumps(SchemaError("must not be empty", "context[3]")))
    assert (error.reason, error.field) == ("must not be empty", "context[3]")
    assert str(error) == "field 'context[3]': must not be empty"


def test_unknown_schema_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="interaction v1"):
        validate({}, "interaction", 9)
