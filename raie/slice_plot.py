"""``raie metrics --plot``: Recall@10 per slice for each method, over RAIE's op counts per slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from raie.errors import ConfigError
from raie.slice_reports import OPS, SLICES, query_for_run
from raie.store import Store

FIGURE_INCHES = (8.0, 7.0)
DPI = 120
OP_COLOURS = {"updates": "C0", "expands": "C1", "adds": "C2"}
LINE_STYLES = (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))
"""Methods often tie on a slice (all of them before the first update): distinct markers
and dashes keep every line visible where they overlap."""

RECALL_SQL = f"""SELECT run_id, method, slice, avg("R@10") AS recall FROM ({SLICES.sql}) GROUP BY ALL ORDER BY ALL"""
"""The ``slices`` report's Recall@10 (window mean), averaged over seeds."""

OPS_SQL = f"""
SELECT slice, avg(updates) AS updates, avg(expands) AS expands, avg(adds) AS adds
FROM ({OPS.sql}) WHERE run_id IN (SELECT run_id FROM metrics) GROUP BY slice ORDER BY slice
"""
"""The ``ops`` report's counts for runs with prequential metrics (the stream's), averaged over runs and seeds."""


def write_slice_plot(store: Store, path: Path, run_id: str | None = None) -> Path:
    """Draw the store's prequential Recall@10 and RAIE's op counts per slice to the PNG ``path``."""
    recall = query_for_run(store, RECALL_SQL, run_id).to_pylist()
    if not recall:
        scope = "" if run_id is None else f" for run {run_id!r}"
        raise ConfigError(
            "--plot", f"the store has no prequential metrics{scope}", "replay a timeline through `raie worker` first"
        )
    ops = query_for_run(store, OPS_SQL, run_id).to_pylist()
    figure = Figure(figsize=FIGURE_INCHES)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    several_runs = len({r["run_id"] for r in recall}) > 1
    for index, (run, method) in enumerate(sorted({(r["run_id"], r["method"]) for r in recall})):
        points = [(r["slice"], r["recall"]) for r in recall if (r["run_id"], r["method"]) == (run, method)]
        slices, values = zip(*points, strict=True)
        label = f"{run} {method}" if several_runs else method
        marker, dashes = LINE_STYLES[index % len(LINE_STYLES)]
        top.plot(slices, values, marker=marker, linestyle=dashes, label=label, alpha=0.85)
    top.set_ylabel("Recall@10 (prequential)")
    top.set_title("each slice scored before it is trained on" + ("" if run_id is None else f": run {run_id}"))
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    if ops:
        slices_with_ops = np.array([r["slice"] for r in ops])
        below = np.zeros(len(ops))
        for name, colour in OP_COLOURS.items():
            counts = np.array([r[name] for r in ops], dtype=float)
            bottom.bar(slices_with_ops, counts, bottom=below, color=colour, label=name)
            below += counts
        bottom.legend(fontsize=8)
    bottom.set_ylabel("RAIE edit ops (windows)")
    bottom.set_xlabel("slice")
    bottom.set_xticks(sorted({r["slice"] for r in recall} | {r["slice"] for r in ops}))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path
