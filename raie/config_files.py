"""Reading and writing configs: YAML presets shipped as package data, user files, plain dicts.

:func:`load_config` turns a YAML file into an :class:`~raie.config.ExperimentConfig`
and names the file, the field and the fix when a value is wrong; the shipped
presets are ``raie/presets/<dataset>.yaml``, found through importlib.resources
so that a wheel install works from any directory.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from raie.config import ExperimentConfig
from raie.errors import ConfigError

PRESETS_PACKAGE = "raie.presets"
"""Package whose ``*.yaml`` files are the shipped presets: package data, found
through importlib.resources, so a wheel install works from any directory."""

PRESET_SUFFIX = ".yaml"

T = TypeVar("T")


def from_dict(cls: type[T], values: dict[str, Any], prefix: str = "") -> T:
    """Build a (nested) frozen dataclass from plain values, naming bad fields."""
    if not isinstance(values, dict):
        raise ConfigError(
            prefix or "<root>", f"expected a mapping, got {type(values).__name__}", "write key: value pairs"
        )
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(name, "unknown field", f"use one of {sorted(known)}")
        kwargs[key] = _convert(hints[key], raw, name)
    try:
        return cls(**kwargs)
    except ConfigError as error:
        # Validators name fields relative to their own section; add the path.
        raise error.located(prefix=prefix) from None


def _convert(hint: Any, raw: Any, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, raw, prefix=f"{name}.")  # type: ignore[arg-type]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        return _convert(hint, raw, name)
    if origin is tuple:
        if not isinstance(raw, list | tuple):
            raise ConfigError(name, f"expected a list, got {raw!r}", "write [a, b]")
        return tuple(_convert(args[0], item, name) for item in raw)
    if hint is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if hint in (int, str, bool) and type(raw) is hint:
        return raw
    expected = getattr(hint, "__name__", str(hint))
    raise ConfigError(name, f"expected {expected}, got {raw!r}", f"write a {expected}")


def load_config(path: str | Path | Traversable) -> ExperimentConfig:
    """Read a YAML preset (a user's file, or a shipped one from :func:`preset_path`);
    errors name the file, the field and the fix."""
    source = Path(path) if isinstance(path, str) else path
    if not source.is_file():
        raise ConfigError("--config", f"file {source} not found", "pass an existing YAML file")
    try:
        values = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError("<file>", f"invalid YAML: {error}", "fix the syntax", source=str(source)) from error
    try:
        return from_dict(ExperimentConfig, values)
    except ConfigError as error:
        raise error.located(source=str(source)) from None


def save_config(config: ExperimentConfig, path: str | Path) -> Path:
    """Write ``config`` as a YAML preset that :func:`load_config` reads back equal."""
    target = Path(path)
    # The JSON round trip turns tuples into lists, which safe_dump can write.
    target.write_text(yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(config)))))
    return target


def preset_names() -> list[str]:
    """Names of the shipped presets (file names without ``.yaml``), sorted."""
    return sorted(
        entry.name.removesuffix(PRESET_SUFFIX)
        for entry in files(PRESETS_PACKAGE).iterdir()
        if entry.is_file() and entry.name.endswith(PRESET_SUFFIX)
    )


def preset_file(name: str) -> Traversable:
    """The shipped preset called ``name``; a ConfigError lists the ones that exist."""
    entry = files(PRESETS_PACKAGE).joinpath(name + PRESET_SUFFIX)
    if not entry.is_file():
        raise ConfigError("preset", f"no preset named '{name}'", f"use one of {preset_names()}")
    return entry


def preset_path(dataset: str, backbone: str | None = None) -> Traversable:
    """The shipped preset of ``dataset``: ``<dataset>-<backbone>.yaml`` when the backbone
    has its own, else ``<dataset>.yaml``. No preset at all is an error, not a silent
    fall-back to defaults: those are not tuned for any data set."""
    names = preset_names()
    for name in (f"{dataset}-{backbone}" if backbone else None, dataset):
        if name in names:
            return files(PRESETS_PACKAGE).joinpath(name + PRESET_SUFFIX)
    wanted = f"dataset '{dataset}'" + (f" (backbone '{backbone}')" if backbone else "")
    raise ConfigError(
        "--config",
        f"no shipped preset for {wanted}; shipped presets: {names}",
        f"pass --config FILE, or add raie/presets/{dataset}{PRESET_SUFFIX}",
    )
