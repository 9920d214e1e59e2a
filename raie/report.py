"""The paper-style results table, read back from the store.

The table is computed by SQL over ``experiment_results``, so what is printed
is by construction what is stored.
"""

from __future__ import annotations

import math

import numpy as np

from raie.evaluation import Ranking
from raie.metrics import recall_at
from raie.significance import paired_bootstrap
from raie.store import Store
from raie.tabular import format_text_table

HEADLINE_K = 10
"""The paper's Table 2 reports Recall@10 and NDCG@10."""

COLUMNS = (("S", "recall", "S R@10"), ("S", "ndcg", "S N@10"), ("T", "recall", "T R@10"), ("T", "ndcg", "T N@10"))

SUMMARY_SQL = """
SELECT method, split, metric, avg(value) AS mean,
       coalesce(stddev_samp(value), 0) AS std, count(*) AS seeds, max(n_windows) AS n_windows
FROM experiment_results
WHERE run_id = ? AND k = ? AND average = 'window'
GROUP BY method, split, metric
"""


def results_table(store: Store, run_id: str, methods: tuple[str, ...]) -> str:
    """Rows are methods; cells are mean ± sample std over seeds (per-window means)."""
    rows = store.query(SUMMARY_SQL, [run_id, HEADLINE_K]).to_pylist()
    cell = {(r["method"], r["split"], r["metric"]): r for r in rows}
    body = []
    for method in methods:
        line = [method]
        for split, metric, _ in COLUMNS:
            found = cell.get((method, split, metric))
            line.append("-" if found is None else f"{found['mean']:.4f} ± {found['std']:.4f}")
        seeds = {r["seeds"] for r in rows if r["method"] == method}
        line.append(str(max(seeds, default=0)))
        body.append(line)
    windows = {split: max((r["n_windows"] for r in rows if r["split"] == split), default=0) for split in ("S", "T")}
    headers = ["method", *(title for _, _, title in COLUMNS), "seeds"]
    footer = f"windows: S held-out {windows['S']}, T {windows['T']}; mean ± sample std over seeds"
    return format_text_table(headers, body) + "\n" + footer


GLOBAL_BASELINES = ("lora", "replay", "lwf")
"""The single-adapter methods RAIE has to beat on T (the issue's target)."""


def best_baseline(
    rankings: dict[tuple[str, int, str], Ranking], methods: tuple[str, ...], seeds: tuple[int, ...]
) -> str | None:
    """The global baseline with the highest mean T Recall@10 over seeds, if any ran."""
    candidates = [m for m in GLOBAL_BASELINES if m in methods]
    if not candidates:
        return None

    def t_recall(method: str) -> float:
        return float(np.mean([rankings[(method, s, "T")].recall(HEADLINE_K) for s in seeds]))

    return max(candidates, key=t_recall)


def differences_table(
    rankings: dict[tuple[str, int, str], Ranking],
    methods: tuple[str, ...],
    seeds: tuple[int, ...],
    baseline: str = "base",
) -> str | None:
    """Paired bootstrap 95% CI of each method minus the baseline, R@10 pooled over seeds."""
    if baseline not in methods or len(methods) < 2:
        return None
    body = []
    for method in methods:
        if method == baseline:
            continue
        line = [f"{method} - {baseline}"]
        for split in ("S", "T"):
            a = np.concatenate([recall_at(rankings[(method, s, split)].ranks, HEADLINE_K) for s in seeds])
            b = np.concatenate([recall_at(rankings[(baseline, s, split)].ranks, HEADLINE_K) for s in seeds])
            d = paired_bootstrap(a, b)
            mark = "*" if d.significant else ""
            line.append("-" if math.isnan(d.mean) else f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]{mark}")
        body.append(line)
    return format_text_table(["R@10 difference", "S (95% CI)", "T (95% CI)"], body) + "\n* interval excludes 0"
