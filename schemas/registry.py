"""Schema files by (name, version), compiled once, and errors a producer can act on.

The files under ``schemas/json/`` are the contract; this module only loads
them. fastjsonschema turns each into generated Python code, so validating an
event costs microseconds; the price is paid once per process, on first use.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema

from schemas.codec import JsonObject, json_kind
from schemas.errors import SchemaError

SCHEMA_DIR = Path(__file__).resolve().parent / "json"
"""Shipped as package data (pyproject's ``[tool.setuptools.package-data]``)."""

_SHORT = 40
"""Longest quoted value in a reason: enough to recognise it, short enough for a log line."""


def schema_path(name: str, version: int) -> Path:
    return SCHEMA_DIR / f"{name}.v{version}.json"


def available() -> tuple[tuple[str, int], ...]:
    """Every (name, version) that has a schema file, sorted."""
    found: list[tuple[str, int]] = []
    for path in SCHEMA_DIR.glob("*.v*.json"):
        name, _, version = path.name.removesuffix(".json").rpartition(".v")
        found.append((name, int(version)))
    return tuple(sorted(found))


def load(name: str, version: int) -> JsonObject:
    """A fresh copy of a schema document (callers may modify it)."""
    path = schema_path(name, version)
    if not path.is_file():
        known = ", ".join(f"{n} v{v}" for n, v in available())
        raise LookupError(f"no schema {name!r} version {version} in {SCHEMA_DIR} (known: {known})")
    document: JsonObject = json.loads(path.read_text(encoding="utf-8"))
    return document


@functools.cache
def validator(name: str, version: int) -> Callable[[Any], Any]:
    """The compiled validator of one schema; compiled on first use, then cached."""
    # use_default=False: a validator must never write defaults into the event it checks.
    return fastjsonschema.compile(load(name, version), use_default=False, use_formats=False)


def validate(value: Any, name: str, version: int) -> None:
    """Raise :class:`SchemaError` unless ``value`` matches schema ``name`` v``version``."""
    try:
        validator(name, version)(value)
    except fastjsonschema.JsonSchemaValueException as error:
        raise explain(error) from None


def explain(error: fastjsonschema.JsonSchemaValueException) -> SchemaError:
    """Turn fastjsonschema's ``data.x must ...`` into a reason and a field path."""
    field = _field_path(error.name)
    rule, limit, value = error.rule, error.rule_definition, error.value
    if rule == "required" and isinstance(value, dict):
        # fastjsonschema lists every required name; name the first one missing.
        missing = next(name for name in limit if name not in value)
        return SchemaError("is required but missing", _child(field, missing))
    if rule == "additionalProperties" and isinstance(value, dict) and isinstance(error.definition, dict):
        known = error.definition.get("properties", {})
        extra = sorted(key for key in value if key not in known)[0]
        return SchemaError("is not a field of this message (additional fields are not allowed)", _child(field, extra))
    return SchemaError(_reason(rule, limit, value, error.message), field)


def _reason(rule: str | None, limit: Any, value: Any, message: str) -> str:
    if rule == "type":
        expected = [limit] if isinstance(limit, str) else list(limit)
        return "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in expected) + f", not {json_kind(value)}"
    if rule == "minLength":
        return "must not be empty" if limit == 1 else f"must be at least {limit} characters long"
    if rule == "maxLength":
        return f"must be at most {limit} characters long (got {len(value)})"
    if rule == "minimum":
        return f"must be >= {limit} (got {_short(value)})"
    if rule == "maximum":
        return f"must be <= {limit} (got {_short(value)})"
    if rule == "pattern":
        return f"{_short(value)} does not match the pattern {limit}"
    if rule == "enum":
        return "must be one of " + ", ".join(json.dumps(option) for option in limit) + f" (got {_short(value)})"
    if rule == "minItems":
        return f"must have at least {limit} item{'' if limit == 1 else 's'}"
    # A rule the schemas do not use today: keep fastjsonschema's words minus "data.x".
    return message.split(" ", 1)[-1]


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


def _field_path(name: str | None) -> str | None:
    # fastjsonschema names the root "data": "data.context[3]" -> "context[3]".
    path = (name or "data").removeprefix("data").removeprefix(".")
    return path or None


def _child(parent: str | None, key: str) -> str:
    return key if parent is None else f"{parent}.{key}"
