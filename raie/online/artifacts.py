"""What the slice session persists so that a restarted worker resumes where it stopped.

Layout under ``<store>/artifacts/``::

    state.json                              the commit point: slices closed so far, live adapter versions
    setup/vocabulary.json, model.safetensors the frozen Set-up backbone and its items
    slice=<k>/regions/                      the region bank after slice k
    slice=<k>/history.safetensors           every training window up to slice k (rehearsal)
    slice=<k>/train_input.safetensors       what slice k's adapter jobs train on

RAIE's LoRA adapters are versioned in ``<store>/adapters/`` (:mod:`raie.adapters`);
``state.json`` names the version of each adapter that serves after slice k.

Everything is safetensors or JSON (never pickles). A slice's files are written
first and ``state.json`` replaced atomically last, once the caller has also
stored the slice's rows, so a crash in between leaves the previous slice as
the state to resume from.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import safetensors.numpy
import safetensors.torch

from raie.adapters import ADAPTERS_DIR, AdapterRegistry
from raie.backbones import SequentialRecommender, build_backbone
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.online.candidates import ItemVocabulary
from raie.protocol.windows import Windows
from raie.regions.bank import RegionBank

ARTIFACTS_DIR = "artifacts"
STATE_FILE = "state.json"
TRAIN_INPUT_FILE = "train_input.safetensors"


@dataclass(frozen=True)
class SessionState:
    closed_slices: int
    vocabulary: ItemVocabulary
    setup_model: SequentialRecommender
    bank: RegionBank
    history: Windows
    live: dict[str, int]  # adapter name -> the registry version that serves


def _write_json_atomically(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=1))
    os.replace(temporary, path)


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

    def write_slice(self, slice_index: int, state: SessionState, catalog: Catalog | None = None) -> None:
        """Write slice ``slice_index``'s files, uncommitted; ``catalog`` (the items at Set-up) with slice 0."""
        if catalog is not None:
            setup = self.setup_dir()
            setup.mkdir(parents=True, exist_ok=True)
            _write_json_atomically(
                setup / "vocabulary.json", {"item_ids": list(state.vocabulary.item_ids), "texts": list(catalog.texts)}
            )
            safetensors.torch.save_model(state.setup_model, str(setup / "model.safetensors"))
        directory = self.slice_dir(slice_index)
        state.bank.save(directory / "regions")
        history = state.history
        safetensors.numpy.save_file(
            {"user": history.user, "context": history.context, "target": history.target, "ts": history.ts},
            str(directory / "history.safetensors"),
        )

    def commit(self, state: SessionState) -> None:
        """Make the slice :meth:`write_slice` wrote for ``state`` the one a restart resumes from."""
        _write_json_atomically(self.root / STATE_FILE, {"closed_slices": state.closed_slices, "live": state.live})

    def load(self, backbone: str, config: ExperimentConfig) -> SessionState | None:
        """The state after the last closed slice, or None before the Set-up slice closed."""
        closed = self.closed_slices()
        if closed == 0:
            return None
        vocabulary, setup_model = self.load_setup(backbone, config)
        directory = self.slice_dir(closed - 1)
        arrays = safetensors.numpy.load_file(str(directory / "history.safetensors"))
        history = Windows(arrays["user"], arrays["context"], arrays["target"], arrays["ts"])
        return SessionState(
            closed_slices=closed,
            vocabulary=vocabulary,
            setup_model=setup_model,
            bank=RegionBank.load(directory / "regions"),
            history=history,
            live=self.load_live(),
        )

    def load_live(self) -> dict[str, int]:
        """The committed adapter versions: adapter name -> registry version."""
        path = self.root / STATE_FILE
        state = json.loads(path.read_text()) if path.is_file() else {}
        return {str(name): int(version) for name, version in state.get("live", {}).items()}

    def load_setup(self, backbone: str, config: ExperimentConfig) -> tuple[ItemVocabulary, SequentialRecommender]:
        """The item vocabulary and the frozen Set-up backbone (eval mode, no gradients)."""
        meta = json.loads((self.setup_dir() / "vocabulary.json").read_text())
        setup_model = build_backbone(backbone, config, Catalog(tuple(meta["texts"])))
        safetensors.torch.load_model(setup_model, str(self.setup_dir() / "model.safetensors"))
        setup_model.requires_grad_(False)
        return ItemVocabulary(tuple(meta["item_ids"])), setup_model.eval()


def directory_digest(directory: Path) -> str:
    """sha256 over a directory's files (relative names and bytes, in sorted order):
    what a reader checks before it trusts a published slice."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
