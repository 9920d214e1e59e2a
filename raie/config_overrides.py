"""``--set KEY=VALUE``: change one field of an :class:`ExperimentConfig` from the command line.

KEY is a dotted path into the config's sections (``preprocess.k_core``), VALUE
is read as YAML (``5``, ``null``, ``[0.5, 0.8]``), so an override is written
exactly as the same line of a preset would be. The result goes through
:func:`raie.config_files.from_dict`, the path a YAML preset takes, so a bad key or
value is refused with the same field-and-fix message.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from raie.config import ExperimentConfig
from raie.config_files import from_dict
from raie.errors import ConfigError

OPTION = "--set"
EXAMPLE = "preprocess.k_core=5"


@dataclass(frozen=True)
class Override:
    """One parsed ``--set``: the field's path, its new value, and the text as typed (for messages)."""

    path: tuple[str, ...]
    value: Any
    text: str

    @property
    def key(self) -> str:
        return ".".join(self.path)


def parse_override(text: str) -> Override:
    """``KEY=VALUE`` as an :class:`Override`; a ConfigError says what is malformed."""
    key, equals, raw = text.partition("=")
    path = tuple(part.strip() for part in key.split("."))
    if not equals or not all(path):
        raise ConfigError(OPTION, f"'{text}' is not KEY=VALUE", f"write a dotted field path, e.g. {EXAMPLE}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        problem = f"value of '{text}' is not valid YAML ({error.__class__.__name__})"
        raise ConfigError(OPTION, problem, "quote it, or write a list as [a, b]") from error
    return Override(path, value, text)


def apply_overrides(config: ExperimentConfig, overrides: Sequence[Override]) -> ExperimentConfig:
    """``config`` with every override applied, validated once at the end.

    Validating only the end result lets fields that constrain each other
    (``sasrec.hidden`` must be a multiple of ``sasrec.heads``) change together
    in any order."""
    if not overrides:
        return config
    # The JSON round trip gives the plain dict form that a YAML preset parses to.
    values: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(config)))
    for override in overrides:
        _assign(values, override)
    try:
        return from_dict(ExperimentConfig, values)
    except ConfigError as error:
        raise error.located(source=_culprit(error.field, overrides)) from None


def _assign(values: dict[str, Any], override: Override) -> None:
    section = values
    for depth, part in enumerate(override.path[:-1]):
        child = section.setdefault(part, {})
        if not isinstance(child, dict):
            # Unknown names are left to from_dict, which lists the known ones;
            # here the path goes through a value that has no fields.
            where = ".".join(override.path[: depth + 1])
            raise ConfigError(where, "is a value, not a section", f"set '{where}' itself", source=_source(override))
        section = child
    section[override.path[-1]] = override.value


def _culprit(field: str, overrides: Sequence[Override]) -> str:
    """The ``--set`` that a validation error is about; all of them when none names its field."""
    for override in reversed(overrides):  # the last one of a key is the one that counts
        if field == override.key or field.startswith(override.key + ".") or override.key.startswith(field + "."):
            return _source(override)
    return " ".join(_source(o) for o in overrides)


def _source(override: Override) -> str:
    return f"{OPTION} {override.text}"
