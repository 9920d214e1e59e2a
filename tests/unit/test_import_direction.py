"""``raie/`` imports only downwards: a layer never imports one above it (docs/ARCHITECTURE.md).

Foundations (data, protocol, backbones, regions, store) know nothing of the
update methods, the slice step, the offline runner or the command line; the
method core never imports kafka, faust or ray at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RAIE = Path(__file__).resolve().parents[2] / "raie"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "errors",
            "config",
            "config_files",
            "config_overrides",
            "registry",
            "seeding",
            "device",
            "recording",
            "tabular",
        }
    ),
    frozenset({"data", "store"}),
    frozenset({"protocol", "metrics", "significance", "run_manifest"}),
    frozenset({"backbones", "evaluation", "retrieval"}),
    frozenset({"regions", "training"}),
    frozenset({"adapters", "strategies"}),
    frozenset({"online"}),
    frozenset({"experiment", "report", "slice_reports", "slice_plot", "serving"}),
    frozenset({"cli"}),
)
"""Lowest first. A unit (a subpackage or top-level module of raie/) may import its own layer and those below."""

SERVICES = ("kafka", "faust", "aiokafka", "ray", "mode")
"""The stream and the Ray pool live in streams/ and workers/; raie/ runs without them."""


def layer_of(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise AssertionError(f"raie/{unit} is in no layer: add it to LAYERS here and to docs/ARCHITECTURE.md")


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def unit_of(path: Path) -> str:
    return path.relative_to(RAIE).parts[0].removesuffix(".py")


def test_every_import_inside_raie_points_down_or_sideways() -> None:
    upward = []
    for path in sorted(RAIE.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == RAIE:
            continue
        unit = unit_of(path)
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == "raie" and len(parts) > 1 and layer_of(parts[1]) > layer_of(unit):
                upward.append(f"{path.relative_to(RAIE.parent)} imports {name}")
    assert not upward, "\n".join(upward)


def test_the_method_core_imports_no_stream_or_cluster_client() -> None:
    offending = [
        f"{path.relative_to(RAIE.parent)} imports {name}"
        for path in sorted(RAIE.rglob("*.py"))
        for name in imports(path)
        if name.split(".")[0] in SERVICES
    ]
    assert not offending, "\n".join(offending)


def test_the_check_sees_an_upward_import() -> None:
    # The rule itself: store (layer 1) importing online (layer 6) is upward; the reverse is not.
    assert layer_of("online") > layer_of("store") > layer_of("config")
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("not_a_unit")
