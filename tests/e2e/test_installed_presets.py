"""A wheel install (``pip install .``, not editable) finds the shipped presets from any directory.

The presets are package data read through importlib.resources; a lookup
through the source tree would pass every other test (they run from a
checkout) and fail only for a user who installed the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.e2e

PACKAGES = ("raie", "schemas", "streams", "workers")
"""What pyproject's package discovery includes; copied so that the build never writes into the checkout."""

STEP_TIMEOUT_S = 120
"""Each step takes seconds (about 40 s for the whole test on 2 busy cores); this only bounds a hang."""

CHECK = """
import pathlib, sys
import raie
from raie.cli.common import resolve_config
from raie.config_files import preset_names

installed = pathlib.Path(raie.__file__).resolve()
assert installed.is_relative_to(pathlib.Path(sys.prefix).resolve()), f"not the installed copy: {installed}"
print(preset_names())
for dataset, backbone in (("movielens", "sasrec"), ("movielens", "lm"), ("yelp", None)):
    config = resolve_config(dataset, None, backbone)
    print(dataset, backbone, config.dataset, config.protocol.train_stride)
"""


def run(command: list[str], cwd: Path) -> str:
    # No PYTHONPATH: the checkout must not leak into the installed interpreter's imports.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "PIP_NO_INDEX": "1",  # nothing is downloaded: build and runtime dependencies are already here
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def copy_source(target: Path) -> Path:
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


def make_venv(target: Path, cwd: Path) -> Path:
    """A throwaway venv on the system Python. The project env's site-packages (pip,
    setuptools, the runtime dependencies) follow the venv's own on sys.path through a
    .pth file, so the installed raie wins and the build uses the project's setuptools.
    Without pip of its own: ensurepip's old setuptools would come first and cannot build a wheel."""
    base = shutil.which("python3.11") or sys.executable
    run([base, "-m", "venv", "--system-site-packages", "--without-pip", str(target)], cwd)
    python = target / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd).strip())
    # Lines of a .pth are added to sys.path, but .pth files inside them are not run: the
    # project env's editable-install hook, which maps raie to the checkout, stays off.
    (site / "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def test_a_wheel_install_finds_its_presets_from_another_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    source = copy_source(tmp_path / "source")
    python = make_venv(tmp_path / "venv", elsewhere)
    run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(source)], elsewhere)
    shutil.rmtree(source)  # nothing may be read from the tree it was built from
    out = run([str(python), "-I", "-c", CHECK], elsewhere).splitlines()
    assert out[0] == "['movielens', 'movielens-lm', 'movielens-lm-full', 'yelp']"
    lm_stride = next(line for line in out if line.startswith("movielens lm ")).split()[-1]
    assert out[1:] == ["movielens sasrec movielens 1", f"movielens lm movielens {lm_stride}", "yelp None yelp 1"]
    assert int(lm_stride) > 1, "the backbone's own preset (movielens-lm.yaml), not movielens.yaml"
