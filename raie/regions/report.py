"""Before/after report of one slice's region edits: how RAIE's regions changed.

Reads the ``regions`` and ``edits`` tables that ``raie experiment`` writes for
one (run, method, seed, slice) and says, per region, how far its centre moved,
how its radius and cap area changed, which edit ops touched it, and how
separable the bank is before and after. This makes the edits inspectable as
text; :mod:`raie.regions.region_map` draws the same report as a picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from raie.errors import ConfigError
from raie.store import Store
from raie.tabular import format_text_table

DEFAULT_METHOD = "raie"
"""The full method is the one whose regions are edited; ablations are opt-in."""

REGION_OPS = ("update", "expand", "create")
"""Ops counted per region; 'add' only lands in the buffer, so it is only a total."""

ALL_OPS = ("update", "expand", "add", "create")
"""Every op of the ``edits`` table, in the order the totals line prints them."""

ZERO_NORM = 1e-12
"""Below this norm a centre has no direction; it is left as zeros, not divided."""

HEADERS = [
    "region", "shift_deg", "radius_before", "radius_after", "d_radius_deg", "d_radius_%",
    "d_area_%", "count_before", "count_after", "version", *REGION_OPS,
]  # fmt: skip
"""Columns of the printed table, one row per region id of either stage."""

MISSING = "-"
"""How a cell reads when its stage has no such region or the value is undefined."""


@dataclass(frozen=True)
class ReportKey:
    """Which snapshot pair a report describes."""

    run_id: str
    method: str
    seed: int
    slice_index: int


@dataclass(frozen=True)
class RegionState:
    """One region in one stage, as its ``regions`` row stores it."""

    region_id: int
    version: int
    count: int
    radius_deg: float
    centre: tuple[float, ...]


@dataclass(frozen=True)
class RegionRow:
    """One region before and after the edits, with the ops that touched it.

    ``shift_deg`` is None when the region exists in only one stage.
    """

    region_id: int
    before: RegionState | None
    after: RegionState | None
    shift_deg: float | None
    ops: tuple[int, ...]  # counts in REGION_OPS order

    @property
    def status(self) -> str:
        """'new' (only after), 'gone' (only before) or 'kept'."""
        return "new" if self.before is None else "gone" if self.after is None else "kept"

    def radius_change_deg(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after.radius_deg - self.before.radius_deg

    def radius_change_pct(self) -> float | None:
        change, before = self.radius_change_deg(), self.before
        return None if change is None or before is None or before.radius_deg <= 0 else 100 * change / before.radius_deg

    def area_change_pct(self) -> float | None:
        """Relative change of the cap area, see :func:`cap_area`."""
        if self.before is None or self.after is None or cap_area(self.before.radius_deg) <= 0:
            return None
        return 100.0 * (cap_area(self.after.radius_deg) / cap_area(self.before.radius_deg) - 1.0)


@dataclass(frozen=True)
class RegionReport:
    """Per-region rows, per-stage separability and op totals of one slice."""

    key: ReportKey
    rows: tuple[RegionRow, ...]
    separability_before: float | None
    separability_after: float | None
    op_totals: tuple[int, ...]  # counts in ALL_OPS order, Add buffer included


def unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    """``vector`` (or each row) as float64 scaled to unit length."""
    array = np.asarray(vector, dtype=np.float64)
    norm = np.linalg.norm(array, axis=-1, keepdims=True)
    scaled: np.ndarray = array / np.where(norm < ZERO_NORM, 1.0, norm)
    return scaled


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between unit vectors (rowwise) in degrees.

    ``2·atan2(|a−b|, |a+b|)`` stays accurate for tiny and near-180° angles,
    where ``arccos`` of the dot product loses digits.
    """
    gap = np.linalg.norm(a - b, axis=-1)
    span = np.linalg.norm(a + b, axis=-1)
    angle: np.ndarray = np.degrees(2.0 * np.arctan2(gap, span))
    return angle


def cap_area(radius_deg: float) -> float:
    """Area of the cap on a 2-sphere with that angular radius, over 2π: ``1 − cos R``.

    The true cap measure in H dimensions grows like ``sin(R)^(H−1)``, which
    overflows any percentage for H = 64, so this 2-D analogue stands in for it.
    """
    return float(1.0 - np.cos(np.radians(radius_deg)))


def separability(states: Sequence[RegionState]) -> float | None:
    """Mean pairwise angle between centres over mean radius (both in degrees).

    Undefined (None) with fewer than two regions or a zero mean radius.
    """
    mean_radius = float(np.mean([s.radius_deg for s in states])) if states else 0.0
    if len(states) < 2 or mean_radius <= 0:
        return None
    centres = unit(np.stack([np.asarray(s.centre) for s in states]))
    first, second = np.triu_indices(len(states), k=1)
    return float(angle_deg(centres[first], centres[second]).mean() / mean_radius)


def build_report(
    key: ReportKey,
    before: Sequence[RegionState],
    after: Sequence[RegionState],
    edits: Mapping[tuple[int, str], int],
) -> RegionReport:
    """Pair the two stages by region id; ``edits`` maps (region_id, op) to a count."""
    old = {s.region_id: s for s in before}
    new = {s.region_id: s for s in after}
    rows = []
    for region_id in sorted(old.keys() | new.keys()):
        a, b = old.get(region_id), new.get(region_id)
        shift = None if a is None or b is None else float(angle_deg(unit(a.centre), unit(b.centre)))
        ops = tuple(edits.get((region_id, op), 0) for op in REGION_OPS)
        rows.append(RegionRow(region_id, a, b, shift, ops))
    totals = tuple(sum(n for (_, op), n in edits.items() if op == name) for name in ALL_OPS)
    return RegionReport(key, tuple(rows), separability(before), separability(after), totals)


def _choices(store: Store, column: str, where: Mapping[str, object]) -> list[str | int]:
    """The distinct values of ``column`` in ``regions`` under the ``where`` equalities."""
    clauses = " AND ".join(f"{name} = ?" for name in where) or "TRUE"
    sql = f"SELECT DISTINCT {column} AS value FROM regions WHERE {clauses} ORDER BY value"
    values: list[str | int] = store.query(sql, list(where.values())).column("value").to_pylist()
    return values


def _require(option: str, value: str | int, available: list[str | int], scope: str) -> None:
    if value not in available:
        listed = ", ".join(str(v) for v in available)
        raise ConfigError(option, f"no regions rows with {option} {value!r}{scope}", f"pick one of: {listed}")


def latest_run(store: Store) -> str:
    """The run with regions rows whose results are newest; runs without results rank last."""
    sql = (
        "SELECT r.run_id FROM (SELECT DISTINCT run_id FROM regions) r LEFT JOIN "
        "(SELECT run_id, max(created_at) AS latest FROM experiment_results GROUP BY run_id) e "
        "USING (run_id) ORDER BY e.latest DESC NULLS LAST, r.run_id DESC LIMIT 1"
    )
    runs = store.query(sql).column("run_id").to_pylist()
    if not runs:
        raise ConfigError("--store", "the store has no regions rows", "run `raie experiment --methods raie` first")
    return str(runs[0])


def resolve_key(
    store: Store,
    *,
    run_id: str | None = None,
    method: str = DEFAULT_METHOD,
    seed: int | None = None,
    slice_index: int | None = None,
) -> ReportKey:
    """Fill unset options with defaults (latest run, smallest seed and slice) and check they exist."""
    run = latest_run(store) if run_id is None else run_id
    _require("--run", run, _choices(store, "run_id", {}), "")
    _require("--method", method, _choices(store, "method", {"run_id": run}), f" in run {run!r}")
    where: dict[str, object] = {"run_id": run, "method": method}
    seeds = _choices(store, "seed", where)
    chosen_seed = int(seeds[0]) if seed is None else seed
    _require("--seed", chosen_seed, seeds, f" for run {run!r}, method {method!r}")
    slices = _choices(store, "slice", {**where, "seed": chosen_seed})
    chosen_slice = int(slices[0]) if slice_index is None else slice_index
    _require("--slice", chosen_slice, slices, f" for run {run!r}, method {method!r}, seed {chosen_seed}")
    return ReportKey(run, method, chosen_seed, chosen_slice)


def load_report(store: Store, key: ReportKey) -> RegionReport:
    """Read the key's snapshots and edit counts and build its report."""
    params: list[object] = [key.run_id, key.method, key.seed, key.slice_index]
    match = "WHERE run_id = ? AND method = ? AND seed = ? AND slice = ?"
    snapshot = store.query(
        f"SELECT stage, region_id, version, count, radius_deg, centre FROM regions {match} ORDER BY region_id", params
    ).to_pylist()
    stages: dict[str, list[RegionState]] = {"before": [], "after": []}
    for row in snapshot:
        state = RegionState(row["region_id"], row["version"], row["count"], row["radius_deg"], tuple(row["centre"]))
        stages[row["stage"]].append(state)
    counted = store.query(f"SELECT region_id, op, sum(count) AS n FROM edits {match} GROUP BY ALL", params)
    edits = {(r["region_id"], r["op"]): int(r["n"]) for r in counted.to_pylist()}
    return build_report(key, stages["before"], stages["after"], edits)


def _cell(value: float | None, spec: str) -> str:
    return MISSING if value is None else format(value, spec)


def _table_row(row: RegionRow) -> list[str]:
    shift = row.status if row.shift_deg is None else f"{row.shift_deg:.3f}"
    stages = (row.before, row.after)
    radii = [MISSING if s is None else f"{s.radius_deg:.3f}" for s in stages]
    changes = [_cell(row.radius_change_deg(), "+.3f"), _cell(row.radius_change_pct(), "+.1f")]
    counts = [MISSING if s is None else str(s.count) for s in stages]
    either = row.after or row.before
    version = MISSING if either is None else str(either.version)
    area = _cell(row.area_change_pct(), "+.1f")
    return [str(row.region_id), shift, *radii, *changes, area, *counts, version, *(str(n) for n in row.ops)]


def format_report(report: RegionReport) -> str:
    """The report as text: a title, the per-region table, separability and op totals."""
    key = report.key
    n_new = sum(row.status == "new" for row in report.rows)
    title = f"regions of run {key.run_id}, method {key.method}, seed {key.seed}, slice {key.slice_index}"
    table = format_text_table(HEADERS, [_table_row(r) for r in report.rows], numeric=[True] * len(HEADERS))
    sep = (_cell(report.separability_before, ".3f"), _cell(report.separability_after, ".3f"))
    totals = ", ".join(f"{op} {n}" for op, n in zip(ALL_OPS, report.op_totals, strict=True))
    separation = f"separability (mean pairwise centre angle / mean radius): before {sep[0]}, after {sep[1]}"
    lines = [f"{title} ({n_new} new)", table, separation, f"edit ops (samples; add = the Add buffer): {totals}"]
    return "\n".join(lines)
