"""What the slice session persists so that a restarted worker resumes where it stopped.

Layout under ``<store>/artifacts/``::

    state.json                              the commit point: slices closed so far, live adapter versions
    setup/vocabulary.json, model.safetensors the frozen Set-up backbone and its items
    slice=<k>/vocabulary.json               the item vocabulary after slice k (new items took free rows)
    slice=<k>/regions/                      the region bank after slice k
    slice=<k>/memory.safetensors            the rehearsal memory after slice k (bounded: raie/online/memory.py)
    slice=<k>/train_input.safetensors       what slice k's adapter jobs train on

Every file of a slice is bounded by that slice's windows and the memory's
capacity, so closing slice k writes about as much as closing slice 1.

RAIE's LoRA adapters are versioned in ``<store>/adapters/`` (:mod:`raie.adapters`);
``state.json`` names the version of each adapter that serves after slice k.

Everything is safetensors or JSON (never pickles). A slice's files are written
first and ``state.json`` replaced atomically last, once the caller has also
stored the slice's rows, so a crash in between leaves the previous slice as
the state to resume from.

``state.json`` has two writers: the slice commit and :meth:`Artifacts.rollback`
(``raie adapters rollback``, from another process). Both hold an exclusive
``flock`` on ``.state.lock`` while they read and replace it, so they never
interleave; and a commit that finds a rollback landed while its slice trained
keeps the rolled-back versions (see :meth:`Artifacts.commit`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from raie.adapters import ADAPTERS_DIR, AdapterRegistry
from raie.backbones import SequentialRecommender, build_backbone
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.errors import RaieError
from raie.online.candidates import ItemVocabulary
from raie.online.memory import RehearsalMemory
from raie.online.state import StepState
from raie.regions.bank import RegionBank
from raie.store.files import atomic_write_json

LOG = logging.getLogger(__name__)

ARTIFACTS_DIR = "artifacts"
STATE_FILE = "state.json"
LOCK_FILE = ".state.lock"
"""Held (flock, exclusive) by whoever reads and replaces ``state.json``."""
TRAIN_INPUT_FILE = "train_input.safetensors"


MEMORY_FILE = "memory.safetensors"
VOCABULARY_FILE = "vocabulary.json"


@dataclass(frozen=True)
class SessionState:
    """The stream's state after a closed slice: the slice step's, and the item vocabulary it fixed at Set-up."""

    vocabulary: ItemVocabulary
    step: StepState

    @property
    def closed_slices(self) -> int:
        return self.step.closed_slices

    @property
    def setup_model(self) -> SequentialRecommender:
        return self.step.setup_model

    @property
    def bank(self) -> RegionBank:
        return self.step.bank

    @property
    def live(self) -> dict[str, int]:
        return self.step.live


@dataclass(frozen=True)
class Artifacts:
    root: Path
    registry: AdapterRegistry

    @classmethod
    def in_store(cls, store_root: Path) -> Artifacts:
        return cls(store_root / ARTIFACTS_DIR, AdapterRegistry(store_root / ADAPTERS_DIR))

    def train_input(self, slice_index: int) -> Path:
        return self.slice_dir(slice_index) / TRAIN_INPUT_FILE

    def slice_dir(self, slice_index: int) -> Path:
        return self.root / f"slice={slice_index}"

    def setup_dir(self) -> Path:
        return self.root / "setup"

    def closed_slices(self) -> int:
        path = self.root / STATE_FILE
        return int(json.loads(path.read_text())["closed_slices"]) if path.is_file() else 0

    def write_setup(self, state: SessionState, catalog: Catalog) -> None:
        """Write the frozen Set-up backbone and its items (the catalogue's texts), once."""
        setup = self.setup_dir()
        setup.mkdir(parents=True, exist_ok=True)
        texts = list(catalog.texts)
        vocabulary = state.vocabulary
        atomic_write_json(
            setup / VOCABULARY_FILE, {"item_ids": list(vocabulary.item_ids), "rows": vocabulary.rows, "texts": texts}
        )
        safetensors.torch.save_model(state.setup_model, str(setup / "model.safetensors"))

    def write_slice(self, slice_index: int, state: SessionState) -> None:
        """Write slice ``slice_index``'s files, uncommitted: the bank and the rehearsal memory after it."""
        directory = self.slice_dir(slice_index)
        directory.mkdir(parents=True, exist_ok=True)
        vocabulary = state.vocabulary
        atomic_write_json(directory / VOCABULARY_FILE, {"item_ids": list(vocabulary.item_ids), "rows": vocabulary.rows})
        state.bank.save(directory / "regions")
        state.step.memory.save(directory / MEMORY_FILE)

    def commit(self, state: SessionState, started_from: dict[str, int] | None = None) -> SessionState:
        """Make the slice :meth:`write_slice` wrote for ``state`` the one a restart resumes from;
        the state committed.

        ``started_from``: the live versions the slice's training continued from. When
        ``state.json`` no longer holds them, a rollback landed while the slice trained; the
        rollback wins and none of the slice's new versions serve, since they were trained
        from the versions it undid. The next slice trains from the rolled-back versions."""
        with self._exclusive():
            live = state.live
            if started_from is not None:
                closed, committed = self.committed()
                if closed == state.closed_slices - 1 and committed != started_from:
                    LOG.warning(
                        "slice %d: adapters were rolled back while it trained (%s, not %s): "
                        "the rollback stays, the slice's new versions do not serve",
                        closed,
                        committed,
                        started_from,
                    )
                    live = committed
            atomic_write_json(self.root / STATE_FILE, {"closed_slices": state.closed_slices, "live": live})
        if live is state.live:
            return state
        return SessionState(state.vocabulary, replace(state.step, live=live))

    def committed(self) -> tuple[int, dict[str, int]]:
        """What ``state.json`` holds now: slices closed and live versions (0 and none before Set-up)."""
        path = self.root / STATE_FILE
        state = json.loads(path.read_text()) if path.is_file() else {}
        live = {str(name): int(version) for name, version in state.get("live", {}).items()}
        return int(state.get("closed_slices", 0)), live

    def rollback(self, adapter: str, version: int) -> int | None:
        """Make ``version`` of ``adapter`` the live one; the version that served before (None: none).

        Only a version of a committed slice whose files pass the registry's hash check can be made
        live. The slice session continues from it at its next slice (``SliceSession`` rereads
        ``state.json``). A region adapter trained as a residual serves stacked on whatever global
        version is live, so rolling back the global adapter changes what the regions sit on."""
        self.check_version(adapter, version)  # before the lock: most mistakes need not wait for a commit
        with self._exclusive():
            self.check_version(adapter, version)
            closed, live = self.committed()
            previous = live.get(adapter)
            atomic_write_json(self.root / STATE_FILE, {"closed_slices": closed, "live": live | {adapter: version}})
        return previous

    def check_version(self, adapter: str, version: int) -> None:
        """RaieError, naming what exists, unless ``version`` of ``adapter`` belongs to a committed
        slice and its weights match the hash its manifest recorded."""
        if not (self.root / STATE_FILE).is_file():
            raise RaieError(
                f"{self.root / STATE_FILE} not found: no slice is committed here, so no adapter serves; "
                "pass the store a stream writes to, once its Set-up slice has closed"
            )
        closed = self.closed_slices()
        known = self.registry.adapters()
        if adapter not in known:
            raise RaieError(f"no adapter {adapter!r} in {self.registry.root}; adapters: {', '.join(known) or 'none'}")
        committed = [v for v in self.registry.versions(adapter) if v < closed]
        if version not in committed:
            raise RaieError(
                f"adapter {adapter!r} has no committed version {version} ({closed} slices closed); "
                f"its versions: {', '.join(map(str, committed)) or 'none'}"
            )
        self.registry.load_weights(adapter, version)  # refuses files changed since publishing

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the lock that every reader-and-replacer of ``state.json`` takes."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self, backbone: str, config: ExperimentConfig, device: torch.device) -> SessionState | None:
        """The state after the last closed slice (its Set-up model on ``device``), or None before
        the Set-up slice closed."""
        closed = self.closed_slices()
        if closed == 0:
            return None
        vocabulary, setup_model = self.load_setup(backbone, config, device)
        directory = self.slice_dir(closed - 1)
        if (directory / VOCABULARY_FILE).is_file():
            vocabulary = _vocabulary(json.loads((directory / VOCABULARY_FILE).read_text()))
        memory = RehearsalMemory.load(directory / MEMORY_FILE)
        step = StepState(closed, setup_model, RegionBank.load(directory / "regions"), memory, self.load_live())
        return SessionState(vocabulary, step)

    def load_live(self) -> dict[str, int]:
        """The committed adapter versions: adapter name -> registry version."""
        return self.committed()[1]

    def load_setup(
        self, backbone: str, config: ExperimentConfig, device: torch.device
    ) -> tuple[ItemVocabulary, SequentialRecommender]:
        """The item vocabulary and the frozen Set-up backbone on ``device`` (eval mode, no gradients)."""
        meta = json.loads((self.setup_dir() / VOCABULARY_FILE).read_text())
        setup_model = build_backbone(backbone, config, Catalog(tuple(meta["texts"]))).to(device)
        safetensors.torch.load_model(setup_model, str(self.setup_dir() / "model.safetensors"), device=str(device))
        setup_model.requires_grad_(False)
        return _vocabulary(meta), setup_model.eval()


def _vocabulary(meta: dict[str, Any]) -> ItemVocabulary:
    return ItemVocabulary(tuple(meta["item_ids"]), int(meta.get("rows", 0)))


def directory_digest(directory: Path) -> str:
    """sha256 over a directory's files (relative names and bytes, in sorted order):
    what a reader checks before it trusts a published slice."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
