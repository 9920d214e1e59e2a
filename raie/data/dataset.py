"""A loaded data set and the registry that finds a loader by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from raie.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from raie.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Canonical interactions and items of one data set, before preprocessing."""

    name: str
    interactions: pa.Table  # INTERACTIONS_SCHEMA
    items: pa.Table  # ITEMS_SCHEMA
    source: Path

    def __post_init__(self) -> None:
        if not self.interactions.schema.equals(INTERACTIONS_SCHEMA):
            raise TypeError(f"interactions schema {self.interactions.schema} != canonical")
        if not self.items.schema.equals(ITEMS_SCHEMA):
            raise TypeError(f"items schema {self.items.schema} != canonical")


Loader = Callable[[Path], Dataset]
_LOADERS: dict[str, Loader] = {}


def register_loader(name: str) -> Callable[[Loader], Loader]:
    """Register a loader under a dataset name (`--dataset NAME`)."""

    def decorate(loader: Loader) -> Loader:
        _LOADERS[name] = loader
        return loader

    return decorate


def dataset_names() -> list[str]:
    _import_builtin_loaders()
    return sorted(_LOADERS)


def load_dataset(name: str, data_dir: str | Path) -> Dataset:
    """Load a registered data set from a folder, raising DataError on bad input."""
    _import_builtin_loaders()
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset '{name}'; choose one of {sorted(_LOADERS)}")
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(folder, "data directory does not exist", fix="pass --data-dir DIR")
    return _LOADERS[name](folder)


def _import_builtin_loaders() -> None:
    # Imported lazily so that importing the registry never pulls in every loader.
    from raie.data import movielens, yelp  # noqa: F401
