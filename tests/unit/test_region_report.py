"""``raie regions report``: shifts, radius and area changes, separability, op counts, the PNG and the CLI."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from raie.cli.main import main
from raie.regions.region_map import project_centres, write_region_map
from raie.regions.report import (
    RegionState,
    ReportKey,
    build_report,
    format_report,
    load_report,
    resolve_key,
    separability,
)
from raie.store import Store, table_spec

pytestmark = pytest.mark.unit

DIM = 8
"""Small representation width: the geometry does not depend on it."""

SHIFT_DEG = 25.0
"""Region 0's centre rotates by this angle within the e0-e1 plane."""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
"""The first eight bytes of every PNG file."""

KEY = ReportKey("run-new", "raie", 0, 1)


def axis(index: int) -> list[float]:
    vector = [0.0] * DIM
    vector[index] = 1.0
    return vector


def rotated(degrees: float) -> list[float]:
    """e0 turned by ``degrees`` towards e1."""
    vector = [0.0] * DIM
    vector[0], vector[1] = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return vector


BEFORE = [RegionState(0, 1, 50, 10.0, tuple(axis(0))), RegionState(1, 1, 30, 20.0, tuple(axis(1)))]
AFTER = [
    RegionState(0, 2, 60, 12.0, tuple(rotated(SHIFT_DEG))),
    RegionState(1, 1, 30, 20.0, tuple(axis(1))),
    RegionState(2, 1, 4, 5.0, tuple(axis(2))),
]
EDITS = {(0, "update"): 5, (0, "expand"): 2, (1, "update"): 3, (-1, "add"): 7, (2, "create"): 4}


def region_rows(key: ReportKey, slice_index: int = 1) -> list[dict[str, object]]:
    return [
        {
            "run_id": key.run_id, "method": key.method, "seed": key.seed, "slice": slice_index, "stage": stage,
            "region_id": s.region_id, "version": s.version, "count": s.count, "radius_deg": s.radius_deg,
            "centre": list(s.centre),
        }
        for stage, states in (("before", BEFORE), ("after", AFTER))
        for s in states
    ]  # fmt: skip


def write(store: Store, table: str, rows: list[dict[str, object]]) -> None:
    store.write(table, pa.Table.from_pylist(rows, schema=table_spec(table).schema))


def result_row(run_id: str, day: int) -> dict[str, object]:
    created = dt.datetime(2024, 5, day, tzinfo=dt.UTC)
    return {
        "run_id": run_id, "dataset": "yelp", "backbone": "sasrec", "method": "raie", "seed": 0, "split": "T",
        "metric": "recall", "k": 10, "average": "window", "value": 0.1, "n_windows": 10, "created_at": created,
    }  # fmt: skip


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """Two runs (run-new has the newer results), two seeds and two slices of run-new."""
    root = tmp_path / "store"
    with Store.open(root) as store:
        old = ReportKey("run-old", "raie", 0, 1)
        write(store, "regions", [*region_rows(KEY), *region_rows(KEY, 2), *region_rows(old)])
        write(store, "regions", region_rows(ReportKey("run-new", "raie", 3, 1)))
        key = {"run_id": KEY.run_id, "method": KEY.method, "seed": KEY.seed, "slice": 1}
        write(store, "edits", [{**key, "region_id": r, "op": op, "count": n} for (r, op), n in EDITS.items()])
        write(store, "experiment_results", [result_row("run-old", 1), result_row("run-new", 2)])
    return root


def test_rotation_shift_radius_and_area() -> None:
    report = build_report(KEY, BEFORE, AFTER, EDITS)
    row = report.rows[0]
    assert row.shift_deg == pytest.approx(SHIFT_DEG, abs=1e-4)
    assert row.radius_change_deg() == pytest.approx(2.0)
    assert row.radius_change_pct() == pytest.approx(20.0)
    area = (1 - math.cos(math.radians(12.0))) / (1 - math.cos(math.radians(10.0))) - 1
    assert row.area_change_pct() == pytest.approx(100 * area)
    assert report.rows[1].shift_deg == pytest.approx(0.0, abs=1e-4)


def test_new_region_has_no_shift_and_prints_new() -> None:
    report = build_report(KEY, BEFORE, AFTER, EDITS)
    new = report.rows[2]
    assert (new.status, new.shift_deg, new.radius_change_pct()) == ("new", None, None)
    rows = format_report(report).splitlines()[3:6]
    assert [line.split()[:2] for line in rows] == [["0", "25.000"], ["1", "0.000"], ["2", "new"]]


def test_separability_matches_hand_computation() -> None:
    # before: one 90° pair, radii 10 and 20; after: angles 65, 90, 90 and radii 12, 20, 5.
    assert separability(BEFORE) == pytest.approx(90.0 / 15.0)
    assert separability(AFTER) == pytest.approx((245.0 / 3) / (37.0 / 3))
    assert separability(BEFORE[:1]) is None


def test_op_counts_per_region_and_totals() -> None:
    report = build_report(KEY, BEFORE, AFTER, EDITS)
    assert [row.ops for row in report.rows] == [(5, 2, 0), (3, 0, 0), (0, 0, 4)]
    assert report.op_totals == (8, 2, 7, 4)  # update, expand, add, create
    assert "update 8, expand 2, add 7, create 4" in format_report(report)


def test_defaults_pick_latest_run_smallest_seed_and_slice(store_dir: Path) -> None:
    with Store.open(store_dir, create=False, read_only=True) as store:
        assert resolve_key(store) == KEY
        report = load_report(store, KEY)
    expected = build_report(KEY, BEFORE, AFTER, EDITS)
    assert [(r.region_id, r.status, r.ops) for r in report.rows] == [
        (r.region_id, r.status, r.ops) for r in expected.rows
    ]
    assert report.op_totals == expected.op_totals
    assert report.rows[0].shift_deg == pytest.approx(SHIFT_DEG, abs=1e-4)
    assert report.separability_after == pytest.approx(expected.separability_after)


def test_map_draws_one_region_and_only_new_regions(tmp_path: Path) -> None:
    for name, before, after in (("one", BEFORE[:1], BEFORE[:1]), ("new", [], AFTER)):
        path = write_region_map(build_report(KEY, before, after, {}), tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == PNG_MAGIC
    xy = project_centres(np.asarray([axis(0), axis(1), axis(2)]))
    assert np.linalg.norm(xy, axis=1).max() == pytest.approx(1.0)


def test_cli_prints_report_and_writes_png(store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regions", "report", "--store", str(store_dir)]) == 0
    default = store_dir / "reports" / "regions-run-new-raie-s0-slice1.png"
    assert default.read_bytes()[:8] == PNG_MAGIC
    out = capsys.readouterr().out
    assert "run run-new, method raie, seed 0, slice 1" in out and str(default) in out
    chosen = tmp_path / "maps" / "slice2.png"
    assert main(["regions", "report", "--store", str(store_dir), "--slice", "2", "--plot", str(chosen)]) == 0
    assert chosen.read_bytes()[:8] == PNG_MAGIC


def test_cli_bad_method_exits_2_naming_the_option(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regions", "report", "--store", str(store_dir), "--method", "lora"]) == 2
    err = capsys.readouterr().err
    assert "--method" in err and "pick one of: raie" in err
