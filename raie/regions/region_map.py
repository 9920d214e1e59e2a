"""A 2-D map of one slice's regions before and after the edits (the paper's Figure 5).

Centres live on a high-dimensional sphere, so the map is a projection: PCA
(numpy SVD) fitted on the union of the before and after centres, rescaled so
the centre farthest from their mean sits at distance 1. Each region draws as a
circle of radius ``radius_deg / RADIUS_SCALE_DEG`` in those units: a schematic
scale that keeps sizes comparable with each other and with the spacing, not a
faithful projection of the cap. Before = dashed outline, after = filled,
an arrow runs from a moved region's old centre to its new one, and new regions
are hatched and labelled. Drawing uses a bare :class:`Figure` with the Agg
canvas, so no pyplot global state and no display is involved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Patch

from raie.regions.report import RegionReport, RegionRow, RegionState, unit

RADIUS_SCALE_DEG = 90.0
"""A 90° cap (a hemisphere) draws with radius 1, the farthest centre's distance."""

FIGURE_INCHES = (7.0, 7.0)
"""Square, so that circles stay circles with an equal-aspect axis."""

DPI = 120
"""Sharp enough to read region labels, small enough to attach to a report."""

FILL_ALPHA = 0.25
"""Post-edit caps are translucent so overlaps and the dashed pre-edit outlines show."""

MIN_ARROW = 1e-6
"""Projected moves shorter than this draw no arrow (the region did not move)."""

LABEL_OFFSET = 6
"""Labels sit this many points above their centre, clear of the move arrow."""

MARGIN = 0.1
"""Blank border around the outermost circle, in projected units."""

COLOURS = 10
"""Matplotlib's default cycle ("C0".."C9") has ten colours; regions beyond reuse them."""

ZERO_SPREAD = 1e-12
"""Below this spread all centres coincide, and the projection is not rescaled."""

Position = tuple[float, float]


def project_centres(centres: np.ndarray) -> np.ndarray:
    """[N, H] centres -> [N, 2] on their top two principal axes, farthest at distance 1."""
    centred = centres - centres.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ components[:2].T
    if xy.shape[1] < 2:  # one centre or H = 1: no second axis, so lay them on a line
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    spread = float(np.linalg.norm(xy, axis=1).max())
    scaled: np.ndarray = xy / spread if spread > ZERO_SPREAD else xy
    return scaled


def _positions(report: RegionReport) -> dict[tuple[str, int], Position]:
    """Projected centre per (stage, region_id) for every state in the report."""
    states: list[tuple[str, RegionState]] = [
        (stage, state)
        for row in report.rows
        for stage, state in (("before", row.before), ("after", row.after))
        if state is not None
    ]
    if not states:
        return {}
    xy = project_centres(unit(np.stack([np.asarray(s.centre) for _, s in states])))
    return {(stage, s.region_id): (float(x), float(y)) for (stage, s), (x, y) in zip(states, xy, strict=True)}


def _draw_row(axes: Axes, row: RegionRow, positions: dict[tuple[str, int], Position], colour: str) -> None:
    """Draw one region: dashed old cap, filled new cap, the move arrow and its label."""
    old = positions.get(("before", row.region_id))
    new = positions.get(("after", row.region_id))
    if row.before is not None and old is not None:
        outline = Circle(old, row.before.radius_deg / RADIUS_SCALE_DEG, fill=False, linestyle="--", edgecolor=colour)
        axes.add_patch(outline)
    if row.after is not None and new is not None:
        hatch = "//" if row.status == "new" else None
        radius = row.after.radius_deg / RADIUS_SCALE_DEG
        axes.add_patch(Circle(new, radius, facecolor=colour, alpha=FILL_ALPHA, edgecolor=colour, hatch=hatch))
    if old is not None and new is not None and np.hypot(new[0] - old[0], new[1] - old[1]) > MIN_ARROW:
        arrow = {"arrowstyle": "->", "color": colour, "shrinkA": 0, "shrinkB": 0}
        axes.annotate("", xy=new, xytext=old, arrowprops=arrow)
    label = f"{row.region_id}" if row.status == "kept" else f"{row.region_id} ({row.status})"
    anchor = new if new is not None else old
    if anchor is not None:
        weight = "bold" if row.status == "new" else "normal"
        axes.plot(*anchor, marker=".", color=colour)
        axes.annotate(
            label,
            anchor,
            xytext=(0, LABEL_OFFSET),
            textcoords="offset points",
            ha="center",
            fontsize=9,
            fontweight=weight,
        )


def _limits(report: RegionReport, positions: dict[tuple[str, int], Position]) -> tuple[float, float]:
    """Symmetric axis limits that hold every circle plus the margin."""
    reach = [1.0]
    for row in report.rows:
        for stage, state in (("before", row.before), ("after", row.after)):
            if state is not None:
                x, y = positions[(stage, row.region_id)]
                reach.append(max(abs(x), abs(y)) + state.radius_deg / RADIUS_SCALE_DEG)
    bound = max(reach) + MARGIN
    return -bound, bound


def _legend_handles() -> list[Patch]:
    return [
        Patch(fill=False, linestyle="--", edgecolor="grey", label="before edits"),
        Patch(facecolor="grey", alpha=FILL_ALPHA, edgecolor="grey", label="after edits"),
        Patch(facecolor="grey", alpha=FILL_ALPHA, edgecolor="grey", hatch="//", label="new region"),
    ]


def write_region_map(report: RegionReport, path: Path) -> Path:
    """Draw ``report``'s regions before and after the edits to the PNG ``path``; return it."""
    positions = _positions(report)
    figure = Figure(figsize=FIGURE_INCHES)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for index, row in enumerate(report.rows):
        _draw_row(axes, row, positions, f"C{index % COLOURS}")
    low, high = _limits(report, positions)
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_aspect("equal")
    axes.set_xlabel("PC 1 (farthest centre = 1)")
    axes.set_ylabel(f"PC 2; circle radius = angular radius / {RADIUS_SCALE_DEG:g}°")
    key = report.key
    axes.set_title(f"regions: run {key.run_id}, method {key.method}, seed {key.seed}, slice {key.slice_index}")
    axes.legend(handles=_legend_handles(), loc="upper right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path
