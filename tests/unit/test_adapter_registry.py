"""The adapter registry: versions, manifests and hash checks.

That a kill -9 cannot tear a publish is checked in the integration tier
(tests/integration/test_adapter_registry_crash.py): it kills real processes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from raie.adapters import AdapterManifest, AdapterRegistry, RegistryError
from raie.adapters.registry import MANIFEST_FILE, STAGING_PREFIX, WEIGHTS_FILE

pytestmark = pytest.mark.unit


def manifest(adapter: str = "region_3", version: int = 2, parent: int | None = 1) -> AdapterManifest:
    return AdapterManifest(
        adapter=adapter,
        region_id=3,
        version=version,
        slice=version,
        parent_version=parent,
        parent_adapter=None if parent is None else "global",
        new_windows=40,
        old_windows=10,
        valid_windows=7,
        metrics={"valid_recall10": 0.25},
        sha256="",
        created_at_ms=1,
    )


def weights(value: float, size: int = 8) -> dict[str, torch.Tensor]:
    return {"lora_A.weight": torch.full((size, 4), value), "lora_B.weight": torch.full((4, size), -value)}


def test_a_published_version_has_weights_a_manifest_and_its_hash(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path)
    published = registry.publish(manifest(), weights(1.5))

    assert published.path == tmp_path / "region_3" / "2"
    assert sorted(p.name for p in published.path.iterdir()) == [WEIGHTS_FILE, MANIFEST_FILE]
    on_disk = json.loads((published.path / MANIFEST_FILE).read_text())
    assert on_disk["parent_version"] == 1 and on_disk["slice"] == 2 and len(on_disk["sha256"]) == 64
    assert registry.versions("region_3") == [2]
    assert registry.get("region_3", 2).manifest == published.manifest
    torch.testing.assert_close(registry.load_weights("region_3", 2)["lora_A.weight"], torch.full((8, 4), 1.5))
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.bin")), "never pickles"


def test_versions_are_listed_in_order_and_republishing_replaces_one(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path)
    for version in (10, 2, 1):
        registry.publish(manifest(version=version), weights(float(version)))
    registry.publish(manifest(version=2), weights(20.0))  # the same slice trained again after a crash

    assert registry.versions("region_3") == [1, 2, 10]
    torch.testing.assert_close(registry.load_weights("region_3", 2)["lora_A.weight"], torch.full((8, 4), 20.0))
    assert not [p for p in (tmp_path / "region_3").iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_a_changed_file_is_refused_and_names_are_checked(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path)
    published = registry.publish(manifest(), weights(1.0))
    with published.weights_path.open("r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x00")
    with pytest.raises(RegistryError, match="does not match its manifest"):
        registry.load_weights("region_3", 2)
    with pytest.raises(RegistryError, match=r"no version 7 of adapter 'region_3'.*published: 2"):
        registry.get("region_3", 7)
    with pytest.raises(RegistryError, match="lower-case letters"):
        registry.publish(manifest(adapter="../evil"), weights(1.0))
