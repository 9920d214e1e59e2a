"""The region bank: every knowledge region's centre, radius, count and version.

Regions have stable integer ids (an id is never reused), so adapters, store
rows and snapshots can refer to a region across edits. ``count`` is each region's
member count (Set-up's k-means members, then every sample absorbed): it weighs the
running-mean centre and the radius tracker (:mod:`raie.regions.geometry`), so it is
part of every copy and snapshot. Snapshots are a safetensors file of the arrays plus
a JSON file of the scalars: no pickles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from raie.errors import DataError
from raie.regions.geometry import angular_distance, normalize, quantile_radius
from raie.regions.kmeans import spherical_kmeans
from raie.regions.routing import Routes, route

TENSORS_FILE = "regions.safetensors"
META_FILE = "regions.json"
SNAPSHOT_FORMAT = 1
UNKNOWN_USER = -1
"""User id of a buffered sample whose user was not given; see ``RegionEditor.edit``."""


@dataclass
class RegionBank:
    """K regions as parallel arrays; row i describes region ``ids[i]``."""

    centres: np.ndarray  # float32 [K, H], unit rows
    radius: np.ndarray  # float64 [K], radians
    count: np.ndarray  # int64 [K], members so far: Set-up's k-means members plus every sample absorbed
    version: np.ndarray  # int64 [K], slices that edited the region (0 = as built)
    ids: np.ndarray  # int64 [K]
    next_id: int = 0
    buffer: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    """Representations waiting for Add, [B, H]; kept in snapshots so a restart loses none."""
    buffer_users: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """int64 [B]: the user of each buffered sample (``UNKNOWN_USER`` when not given), so the
    Add rule's distinct-user count survives a restart too."""

    def __post_init__(self) -> None:
        if len(self.buffer) == 0:
            self.buffer = np.zeros((0, self.dim), dtype=np.float32)
        if len(self.buffer_users) == 0 and len(self.buffer):
            # Banks saved before users were buffered: their samples' users are unknown.
            self.buffer_users = np.full(len(self.buffer), UNKNOWN_USER, dtype=np.int64)
        self.buffer_users = np.asarray(self.buffer_users, dtype=np.int64)
        if len(self.buffer_users) != len(self.buffer):
            raise ValueError(f"{len(self.buffer_users)} buffered users for {len(self.buffer)} buffered samples")

    @classmethod
    def build(cls, x: np.ndarray, k: int, *, quantile: float, seed: int) -> RegionBank:
        """Set-up regions: spherical k-means on the representations ``x``."""
        clustering = spherical_kmeans(x, k, seed=seed)
        x = normalize(x)
        distance = angular_distance(x, clustering.centres)
        radius = [quantile_radius(distance[clustering.labels == j, j], quantile) for j in range(k)]
        return cls(
            centres=clustering.centres,
            radius=np.asarray(radius, dtype=np.float64),
            count=np.bincount(clustering.labels, minlength=k).astype(np.int64),
            version=np.zeros(k, dtype=np.int64),
            ids=np.arange(k, dtype=np.int64),
            next_id=k,
        )

    @property
    def dim(self) -> int:
        return int(self.centres.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, region_id: int) -> int:
        found = np.flatnonzero(self.ids == region_id)
        if not len(found):
            raise KeyError(f"no region {region_id}; regions are {self.ids.tolist()}")
        return int(found[0])

    def route(self, x: np.ndarray, *, rule: str, temperature: float) -> Routes:
        return route(normalize(x), self.centres, self.radius, rule, temperature)

    def add_region(self, centre: np.ndarray, radius: float, count: int) -> int:
        region_id = self.next_id
        self.next_id += 1
        self.centres = np.vstack([self.centres, normalize(centre[None, :])])
        self.radius = np.append(self.radius, radius)
        self.count = np.append(self.count, count)
        self.version = np.append(self.version, 0)
        self.ids = np.append(self.ids, region_id)
        return region_id

    def copy(self) -> RegionBank:
        return RegionBank(
            self.centres.copy(),
            self.radius.copy(),
            self.count.copy(),
            self.version.copy(),
            self.ids.copy(),
            self.next_id,
            self.buffer.copy(),
            self.buffer_users.copy(),
        )

    def save(self, directory: Path) -> None:
        """Write ``regions.safetensors`` and ``regions.json`` under ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            {
                "centres": np.ascontiguousarray(self.centres, dtype=np.float32),
                "radius": self.radius.astype(np.float64),
                "count": self.count.astype(np.int64),
                "version": self.version.astype(np.int64),
                "ids": self.ids.astype(np.int64),
                "buffer": np.ascontiguousarray(self.buffer, dtype=np.float32),
                "buffer_users": self.buffer_users.astype(np.int64),
            },
            str(directory / TENSORS_FILE),
        )
        meta = {"format": SNAPSHOT_FORMAT, "next_id": self.next_id, "regions": len(self), "dim": self.dim}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> RegionBank:
        meta_path, tensors_path = directory / META_FILE, directory / TENSORS_FILE
        for path in (meta_path, tensors_path):
            if not path.is_file():
                raise DataError(path, "region snapshot file is missing", fix="point at a directory saved by RegionBank")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != SNAPSHOT_FORMAT:
            raise DataError(
                meta_path, f"snapshot format {meta.get('format')!r}", field="format", fix=f"expected {SNAPSHOT_FORMAT}"
            )
        arrays = load_file(str(tensors_path))
        bank = cls(
            arrays["centres"],
            arrays["radius"],
            arrays["count"],
            arrays["version"],
            arrays["ids"],
            int(meta["next_id"]),
            arrays["buffer"],
            # Optional: snapshots written before users were buffered lack it (users unknown).
            arrays.get("buffer_users", np.zeros(0, dtype=np.int64)),
        )
        if len(bank) != meta["regions"] or bank.dim != meta["dim"]:
            raise DataError(meta_path, "does not match the tensors beside it", fix="save the snapshot again")
        return bank
