"""The adapter registry: ``adapters/<adapter>/<version>/`` with safetensors and a JSON manifest.

A version is the slice whose training produced it, so versions grow with
time, a region's history reads as the slices it was retrained in, and a job
re-run after a crash rebuilds the same version instead of inventing a new one.

Publishing is atomic: a version is written into a staging directory beside
the versions and renamed into place, so a reader sees either no version or a
complete one; a writer killed half-way leaves only a staging directory, which
readers never list and :meth:`AdapterRegistry.clean_staging` removes. A
version that is already there is replaced (moved aside, then the new one
renamed in): that happens only when an uncommitted slice is trained again.
Which version of each adapter serves is not decided here but by the slice
commit (``raie.online.artifacts``), so a re-trained version is never live
while it is being replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import safetensors.torch
import torch

from raie.errors import RaieError

ADAPTERS_DIR = "adapters"
WEIGHTS_FILE = "adapter.safetensors"
MANIFEST_FILE = "manifest.json"
STAGING_PREFIX = ".staging-"
"""Directories being written; the leading dot keeps them out of every listing."""
ADAPTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
"""The wire contract's adapter names (train_job.v2.json): safe as directory names."""


class RegistryError(RaieError, ValueError):
    """A name, version or file of the registry that cannot be used as asked."""


TRAINED_PARAMETERS = "trained_parameters"
"""The manifest metric counting a version's trained parameters (its saved tensors' elements)."""


@dataclass(frozen=True)
class AdapterManifest:
    """What a version is: its lineage, the data it learnt from, its metrics and its content hash."""

    adapter: str
    region_id: int | None  # None for the global adapter
    version: int
    slice: int
    parent_version: int | None  # the version training started from; None = fresh LoRA (zero delta)
    parent_adapter: str | None  # the adapter that version belongs to (regions start from the global one)
    new_windows: int
    old_windows: int
    valid_windows: int
    metrics: dict[str, float | None]
    sha256: str  # of WEIGHTS_FILE
    created_at_ms: int

    @classmethod
    def from_json(cls, value: dict[str, object]) -> AdapterManifest:
        return cls(**value)  # type: ignore[arg-type]

    @property
    def store_path(self) -> str:
        """The version's directory relative to the store root, as rows and messages name it."""
        return f"{ADAPTERS_DIR}/{self.adapter}/{self.version}"


@dataclass(frozen=True)
class PublishedAdapter:
    manifest: AdapterManifest
    path: Path  # the version directory

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_FILE


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class AdapterRegistry:
    root: Path

    @classmethod
    def in_store(cls, store_root: Path) -> AdapterRegistry:
        return cls(store_root / ADAPTERS_DIR)

    def adapter_dir(self, adapter: str) -> Path:
        if not ADAPTER_NAME.match(adapter):
            raise RegistryError(
                f"adapter name {adapter!r} must be lower-case letters, digits and '_' (at most 64), "
                "starting with a letter: it becomes a directory name"
            )
        return self.root / adapter

    def version_dir(self, adapter: str, version: int) -> Path:
        if version < 0:
            raise RegistryError(f"version {version} of {adapter!r} must be >= 0 (it is a slice number)")
        return self.adapter_dir(adapter) / str(version)

    def publish(self, manifest: AdapterManifest, weights: dict[str, torch.Tensor]) -> PublishedAdapter:
        """Write ``weights`` and ``manifest`` (its sha256 filled in here) as one version, atomically."""
        target = self.version_dir(manifest.adapter, manifest.version)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f"{STAGING_PREFIX}{manifest.version}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            weights_path = staging / WEIGHTS_FILE
            safetensors.torch.save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, weights_path)
            _fsync_file(weights_path)
            final = AdapterManifest(**{**asdict(manifest), "sha256": file_sha256(weights_path)})
            (staging / MANIFEST_FILE).write_text(json.dumps(asdict(final), indent=1))
            _fsync_file(staging / MANIFEST_FILE)
            self._move_into_place(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return PublishedAdapter(final, target)

    @staticmethod
    def _move_into_place(staging: Path, target: Path) -> None:
        if target.exists():
            replaced = target.parent / f"{STAGING_PREFIX}replaced-{uuid.uuid4().hex}"
            os.rename(target, replaced)
            os.rename(staging, target)
            shutil.rmtree(replaced, ignore_errors=True)
        else:
            os.rename(staging, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)

    def adapters(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and ADAPTER_NAME.match(p.name))

    def versions(self, adapter: str) -> list[int]:
        """Published versions of ``adapter``, oldest first (staging directories are not versions)."""
        directory = self.adapter_dir(adapter)
        if not directory.is_dir():
            return []
        return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())

    def get(self, adapter: str, version: int) -> PublishedAdapter:
        path = self.version_dir(adapter, version)
        manifest_path = path / MANIFEST_FILE
        if not manifest_path.is_file():
            known = ", ".join(map(str, self.versions(adapter))) or "none"
            raise RegistryError(f"no version {version} of adapter {adapter!r} in {self.root} (published: {known})")
        return PublishedAdapter(AdapterManifest.from_json(json.loads(manifest_path.read_text())), path)

    def load_weights(self, adapter: str, version: int) -> dict[str, torch.Tensor]:
        """A version's tensors, after checking them against the manifest's hash."""
        published = self.get(adapter, version)
        actual = file_sha256(published.weights_path)
        if actual != published.manifest.sha256:
            raise RegistryError(
                f"{published.weights_path} does not match its manifest (sha256 {actual[:12]}, "
                f"manifest {published.manifest.sha256[:12]}): the file was changed after publishing; "
                "re-run the slice's training to publish it again"
            )
        return safetensors.torch.load_file(published.weights_path)

    def clean_staging(self) -> int:
        """Remove what killed writers left half-written; the number of directories removed."""
        if not self.root.is_dir():
            return 0
        leftovers = [p for p in self.root.glob(f"*/{STAGING_PREFIX}*") if p.is_dir()]
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
        return len(leftovers)
