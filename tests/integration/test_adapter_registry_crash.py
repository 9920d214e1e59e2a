"""Publishing an adapter version that a kill -9 cannot tear, checked at every step of a publish.

A writer process publishes one version and kills itself with SIGKILL just
before its k-th file-system commit step (an ``fsync`` or a ``rename``), for
k = 1, 2, ... until a run gets through all its steps. So every point where
a crash leaves different files on disk is hit exactly, on every run, with
no sleep deciding where the kill falls. It is in the integration tier
because it starts a Python process (torch included) per kill point.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from raie.adapters import AdapterManifest, AdapterRegistry
from raie.adapters.registry import STAGING_PREFIX

pytestmark = pytest.mark.integration

TENSORS = 4
MAX_STEPS = 20
"""More commit steps than a publish takes; reaching it means the writer never finished."""

WRITER = """
import os, signal, sys, torch
from pathlib import Path
from raie.adapters import AdapterManifest, AdapterRegistry

root, value = Path(sys.argv[1]), float(sys.argv[2])
version, kill_at, tensors = (int(arg) for arg in sys.argv[3:6])
weights = {f"t{i}": torch.full((64, 64), value) for i in range(tensors)}
manifest = AdapterManifest("global", None, version, version, None, None, 1, 1, 1, {}, "", 0)
steps = 0

def killed_before(operation):
    # Patched on the os module, so the registry's own calls go through it.
    def step(*args, **kwargs):
        global steps
        steps += 1
        if steps == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return operation(*args, **kwargs)
    return step

os.fsync, os.rename, os.replace = killed_before(os.fsync), killed_before(os.rename), killed_before(os.replace)
AdapterRegistry(root).publish(manifest, weights)
print(steps, flush=True)
"""


def publish(registry: AdapterRegistry, version: int, value: float) -> None:
    weights = {f"t{i}": torch.full((64, 64), value) for i in range(TENSORS)}
    registry.publish(AdapterManifest("global", None, version, version, None, None, 1, 1, 1, {}, "", 0), weights)


def publish_killed_at(root: Path, version: int, value: float, kill_at: int) -> subprocess.CompletedProcess[str]:
    """Publish in a child that SIGKILLs itself before its ``kill_at``-th commit step."""
    args = [str(root), str(value), str(version), str(kill_at), str(TENSORS)]
    return subprocess.run([sys.executable, "-c", WRITER, *args], capture_output=True, text=True, check=False)


def whole_value(registry: AdapterRegistry, version: int) -> float:
    """The value of a visible version, after checking that it is whole: its hash matches, every tensor is there."""
    weights = registry.load_weights("global", version)
    assert sorted(weights) == [f"t{i}" for i in range(TENSORS)]
    values = {float(t.unique().item()) for t in weights.values()}
    assert len(values) == 1, f"version {version} mixes tensors of two publishes: {values}"
    return values.pop()


def staging_dirs(registry: AdapterRegistry) -> list[Path]:
    return [p for p in (registry.root / "global").iterdir() if p.name.startswith(STAGING_PREFIX)]


@pytest.mark.parametrize("replacing", [False, True], ids=["new-version", "replacing-a-version"])
def test_a_writer_killed_at_any_step_of_a_publish_never_leaves_a_visible_half_version(
    tmp_path: Path, replacing: bool
) -> None:
    # Version 1 (all ones) exists; the writer publishes version 2, or version 1 again, as twos.
    version = 1 if replacing else 2
    outcomes: list[tuple[list[int], int]] = []  # per kill point: visible versions, staging leftovers
    for kill_at in range(1, MAX_STEPS + 1):
        registry = AdapterRegistry(tmp_path / f"kill-{kill_at}")
        publish(registry, 1, 1.0)
        writer = publish_killed_at(registry.root, version, 2.0, kill_at)
        if writer.returncode == 0:  # fewer steps than kill_at: the publish went through
            assert int(writer.stdout) == kill_at - 1
            assert registry.versions("global") == sorted({1, version})
            assert whole_value(registry, version) == 2.0 and whole_value(registry, 1) == (2.0 if replacing else 1.0)
            assert not staging_dirs(registry)
            break
        assert writer.returncode == -signal.SIGKILL, writer.stderr

        versions = registry.versions("global")
        for visible in versions:  # whole, and either what was there or what was being published
            assert whole_value(registry, visible) in ({1.0, 2.0} if visible == version else {1.0})
        if not replacing:
            assert 1 in versions, "a publish of version 2 must not touch version 1"
        leftovers = staging_dirs(registry)
        assert registry.clean_staging() == len(leftovers)
        assert not staging_dirs(registry) and registry.versions("global") == versions
        outcomes.append((versions, len(leftovers)))
    else:
        pytest.fail(f"the writer never finished a publish in {MAX_STEPS} commit steps")

    # The kills fell inside the publish: the first left only a staging directory,
    # and at least weights, manifest and the rename were steps of their own.
    assert len(outcomes) >= 3
    first_versions, first_leftovers = outcomes[0]
    assert first_versions == [1] and first_leftovers == 1
