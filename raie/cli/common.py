"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from raie.config import ExperimentConfig, load_config, preset_path
from raie.data.dataset import dataset_names

N = TypeVar("N", int, float)


def add_data_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--dataset", required=required, choices=dataset_names(), help="which loader reads --data-dir")
    parser.add_argument("--data-dir", required=required, type=Path, help="folder holding the dataset's files")
    parser.add_argument("--config", type=Path, default=None, help="YAML preset (default: configs/<dataset>.yaml)")


def resolve_config(dataset: str, explicit: Path | None, backbone: str | None = None) -> ExperimentConfig:
    """The explicit preset, else the shipped preset of the dataset (and backbone), else defaults."""
    if explicit is not None:
        return load_config(explicit)
    preset = preset_path(dataset, backbone)
    return load_config(preset) if preset.is_file() else ExperimentConfig(dataset=dataset)


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
