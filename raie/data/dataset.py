"""A loaded data set and the registry that finds a loader by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from raie.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from raie.errors import DataError
from raie.registry import Registry


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
LOADERS: Registry[Loader] = Registry("dataset", ("raie.data.movielens", "raie.data.yelp"))
register_loader = LOADERS.register
dataset_names = LOADERS.names


def load_dataset(name: str, data_dir: str | Path) -> Dataset:
    """Load a registered data set from a folder, raising DataError on bad input."""
    loader = LOADERS.get(name)
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(folder, "data directory does not exist", fix="pass --data-dir DIR")
    dataset = loader(folder)
    # Checked here, once for every loader: preprocessing and the time split need at least one row.
    if dataset.interactions.num_rows == 0:
        raise DataError(folder, "the data set has no interactions", fix="check that the data files are complete")
    return dataset
