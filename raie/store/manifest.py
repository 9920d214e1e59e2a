"""``store.json``: marks a directory as a store and records its layout version."""

from __future__ import annotations

import json
from pathlib import Path

import raie
from raie.store.errors import StoreError
from raie.store.files import atomic_write_json

MANIFEST_FILE = "store.json"
"""Its presence is what makes a directory a store; without it we refuse to
write into a directory, so a typo in a path never scatters files elsewhere."""

FORMAT_NAME = "raie-store"
"""Guards against an unrelated ``store.json`` from another tool."""


def manifest_path(root: Path) -> Path:
    """Where the manifest of the store at ``root`` lives."""
    return root / MANIFEST_FILE


def read_manifest_version(root: Path) -> int:
    """The layout version recorded in the manifest of the store at ``root``."""
    path = manifest_path(root)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: not valid JSON ({exc}); restore it from a backup") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise StoreError(f'{path}: not a raie store manifest (no "format": "{FORMAT_NAME}")')
    version = payload.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StoreError(f"{path}: 'schema_version' must be an integer, got {version!r}")
    return version


def write_manifest(root: Path, version: int) -> None:
    """Record layout ``version`` and the writing raie version in the manifest."""
    payload: dict[str, object] = {
        "format": FORMAT_NAME,
        "schema_version": version,
        "raie_version": raie.__version__,
    }
    atomic_write_json(manifest_path(root), payload)
