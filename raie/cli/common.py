"""Arguments and helpers shared by several subcommands.

Every option is checked here, by argparse (exit 2, naming the option), before
a handler runs: a command that talks to a broker or starts Ray must refuse bad
input before it contacts either.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from raie.config import ExperimentConfig
from raie.config_files import load_config, preset_path
from raie.config_overrides import EXAMPLE, Override, apply_overrides, parse_override
from raie.data.dataset import dataset_names
from raie.errors import ConfigError

N = TypeVar("N", int, float)


def add_data_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--dataset", required=required, choices=dataset_names(), help="which loader reads --data-dir")
    parser.add_argument("--data-dir", required=required, type=Path, help="folder holding the dataset's files")
    add_config_arguments(parser)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--set``: where the ExperimentConfig comes from; see :func:`resolve_config`."""
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML preset (default: the shipped raie/presets/<dataset>.yaml)"
    )
    parser.add_argument(
        "--set",
        type=override,
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help=f"change one config field, VALUE read as YAML (repeatable), e.g. --set {EXAMPLE} "
        "--set protocol.cutoffs=[0.5,0.8]",
    )


def resolve_config(
    dataset: str, explicit: Path | None, backbone: str | None = None, overrides: Sequence[Override] = ()
) -> ExperimentConfig:
    """The explicit preset, else the shipped preset of the dataset (and backbone), then the ``--set`` overrides.

    A dataset without a shipped preset is an error (see :func:`raie.config_files.preset_path`)."""
    config = load_config(explicit if explicit is not None else preset_path(dataset, backbone))
    return apply_overrides(config, overrides)


def override(text: str) -> Override:
    try:
        return parse_override(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(f"{error.problem} ({error.fix})") from error


def csv_list(text: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. base,lora")
    return items


def int_list(text: str) -> tuple[int, ...]:
    return _numbers(text, int, "integers, e.g. 0,1,2")


def float_list(text: str) -> tuple[float, ...]:
    return _numbers(text, float, "numbers, e.g. 0,0.1")


def _numbers(text: str, parse: Callable[[str], N], example: str) -> tuple[N, ...]:
    try:
        return tuple(parse(part) for part in csv_list(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated {example} ({error})") from error


def at_least(parse: Callable[[str], N], low: N, example: str) -> Callable[[str], N]:
    """An argparse ``type`` that parses a number and refuses one below ``low`` (counts, indices)."""

    def check(text: str) -> N:
        value = _number(parse, text, example)
        if not value >= low:  # written so that NaN fails too
            raise argparse.ArgumentTypeError(f"must be >= {low:g}, got {text} (e.g. {example})")
        return value

    return check


def above(parse: Callable[[str], N], low: N, example: str) -> Callable[[str], N]:
    """An argparse ``type`` for a number strictly greater than ``low`` (durations, rates)."""

    def check(text: str) -> N:
        value = _number(parse, text, example)
        if not value > low:  # written so that NaN fails too
            raise argparse.ArgumentTypeError(f"must be > {low:g}, got {text} (e.g. {example})")
        return value

    return check


def _number(parse: Callable[[str], N], text: str, example: str) -> N:
    try:
        return parse(text)
    except ValueError as error:
        kind = "an integer" if parse is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r} (e.g. {example})") from error
