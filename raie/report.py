"""The paper-style results table, read back from the store, and the comparisons beside it.

The results table is computed by SQL over ``experiment_results``, so what is
printed is by construction what is stored. The differences and the target-kind
split are computed from the run's rankings (``ExperimentOutcome.rankings``).
"""

from __future__ import annotations

import math

import numpy as np

from raie.evaluation import Ranking, recall_by_target_kind
from raie.metrics import kind_order, recall_at
from raie.significance import BOOTSTRAP_SAMPLES, Difference, SeedPair, clustered_bootstrap
from raie.store import Store
from raie.tabular import format_text_table

HEADLINE_K = 10
"""The paper's Table 2 reports Recall@10 and NDCG@10."""

COLUMNS = tuple(
    (split, metric, average, f"{split} {metric[0].upper()}@{HEADLINE_K}" + (" (user)" if average == "user" else ""))
    for split in ("S", "T")
    for metric in ("recall", "ndcg")
    for average in ("window", "user")
)
"""(split, metric, average, title): each per-window mean beside its per-user mean."""

SUMMARY_SQL = """
SELECT method, split, metric, average, avg(value) AS mean,
       coalesce(stddev_samp(value), 0) AS std, count(*) AS seeds, max(n_windows) AS n_windows
FROM experiment_results
WHERE run_id = ? AND k = ? AND average IN ('window', 'user')
GROUP BY method, split, metric, average
"""


def results_table(store: Store, run_id: str, methods: tuple[str, ...]) -> str:
    """Rows are methods; cells are mean ± sample std over seeds of per-window and per-user means."""
    rows = store.query(SUMMARY_SQL, [run_id, HEADLINE_K]).to_pylist()
    cell = {(r["method"], r["split"], r["metric"], r["average"]): r for r in rows}
    body = []
    for method in methods:
        line = [method]
        for split, metric, average, _ in COLUMNS:
            found = cell.get((method, split, metric, average))
            line.append("-" if found is None else f"{found['mean']:.4f} ± {found['std']:.4f}")
        seeds = {r["seeds"] for r in rows if r["method"] == method}
        line.append(str(max(seeds, default=0)))
        body.append(line)
    windows = {split: max((r["n_windows"] for r in rows if r["split"] == split), default=0) for split in ("S", "T")}
    headers = ["method", *(title for *_, title in COLUMNS), "seeds"]
    footer = (
        f"windows: S held-out {windows['S']}, T {windows['T']}; mean ± sample std over seeds; "
        "(user): mean over users of each user's mean"
    )
    return format_text_table(headers, body) + "\n" + footer


COSTS_SQL = """
SELECT method, avg(trained_parameters) AS parameters, avg(train_jobs) AS jobs,
       avg(train_seconds) AS train_seconds, coalesce(stddev_samp(train_seconds), 0) AS train_std,
       avg(scoring_ms_per_window) AS scoring_ms, coalesce(stddev_samp(scoring_ms_per_window), 0) AS scoring_std
FROM method_costs
WHERE run_id = ?
GROUP BY method
"""


def cost_table(store: Store, run_id: str, methods: tuple[str, ...]) -> str | None:
    """Per method, mean over seeds and update slices: parameters trained, training wall
    seconds, and wall milliseconds of scoring one window; None when the run recorded no costs."""
    rows = {r["method"]: r for r in store.query(COSTS_SQL, [run_id]).to_pylist()}
    if not rows:
        return None
    body = []
    for method in methods:
        r = rows.get(method)
        if r is None:
            body.append([method, "-", "-", "-", "-"])
            continue
        body.append(
            [
                method,
                f"{r['parameters']:,.0f}",
                f"{r['jobs']:.1f}",
                f"{r['train_seconds']:.1f} ± {r['train_std']:.1f}",
                f"{r['scoring_ms']:.3f} ± {r['scoring_std']:.3f}",
            ]
        )
    headers = ["method", "trained parameters", "train jobs", "train s / slice", "scoring ms / window"]
    footer = (
        "cost per update slice, mean ± sample std over seeds and slices: the parameters its adapter jobs trained, "
        "their wall seconds, and the wall time of scoring its windows (offline: T) divided by their number"
    )
    return format_text_table(headers, body) + "\n" + footer


GLOBAL_BASELINES = ("lora", "replay", "lwf")
"""The single-adapter methods RAIE has to beat on T (the issue's target)."""

GOAL_METHOD = "raie"
"""The method whose T Recall@10 must beat the best global baseline's (issue #15)."""


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


def recall_difference(
    rankings: dict[tuple[str, int, str], Ranking], method: str, baseline: str, seeds: tuple[int, ...], split: str
) -> Difference:
    """User-clustered bootstrap 95% CI of ``method`` minus ``baseline`` in R@10, mean over seeds."""
    pairs = []
    for seed in seeds:
        a, b = rankings[(method, seed, split)], rankings[(baseline, seed, split)]
        pairs.append(SeedPair(a.users, recall_at(a.ranks, HEADLINE_K), recall_at(b.ranks, HEADLINE_K)))
    return clustered_bootstrap(pairs)


def _interval_text(d: Difference) -> str:
    mark = "*" if d.significant else ""
    return "-" if math.isnan(d.mean) else f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]{mark}"


def differences_table(
    rankings: dict[tuple[str, int, str], Ranking],
    methods: tuple[str, ...],
    seeds: tuple[int, ...],
    baseline: str = "base",
) -> str | None:
    """Each method minus the baseline in R@10, with a user-clustered bootstrap 95% interval."""
    if baseline not in methods or len(methods) < 2:
        return None
    body = []
    for method in methods:
        if method == baseline:
            continue
        line = [f"{method} - {baseline}"]
        line += [_interval_text(recall_difference(rankings, method, baseline, seeds, split)) for split in ("S", "T")]
        body.append(line)
    users = {split: len(np.unique(rankings[(baseline, seeds[0], split)].users)) for split in ("S", "T")}
    footer = (
        "mean over seeds of the per-window mean difference\n"
        f"95% interval: {BOOTSTRAP_SAMPLES} resamples of users (S {users['S']}, T {users['T']}) "
        "with all their windows, one draw for every seed\n"
        "* interval excludes 0"
    )
    return format_text_table(["R@10 difference", "S (95% CI)", "T (95% CI)"], body) + "\n" + footer


def baseline_differences_table(
    rankings: dict[tuple[str, int, str], Ranking], methods: tuple[str, ...], seeds: tuple[int, ...]
) -> str | None:
    """The raie* methods minus the best global baseline, and whether RAIE meets the issue's goal on T."""
    rival = best_baseline(rankings, methods, seeds)
    region_methods = tuple(m for m in methods if m.startswith("raie"))
    if rival is None or not region_methods:
        return None
    table = differences_table(rankings, (rival, *region_methods), seeds, baseline=rival)
    text = f"against the best global baseline on T R@10 ({rival}):\n{table}"
    if GOAL_METHOD in region_methods:
        d = recall_difference(rankings, GOAL_METHOD, rival, seeds, "T")
        met = "met" if d.low > 0 else "not met"
        text += f"\ngoal, {GOAL_METHOD} - {rival} on T with a user-clustered 95% interval above 0: {met}"
    return text


def target_kind_table(
    rankings: dict[tuple[str, int, str], Ranking],
    methods: tuple[str, ...],
    seeds: tuple[int, ...],
    kinds: np.ndarray,
    split: str = "T",
) -> str:
    """R@10 on ``split`` by target kind (``raie.metrics.target_kinds`` of its windows), mean ± std over seeds."""
    order = kind_order(kinds)
    counts = {kind: int(np.sum(kinds == kind)) for kind in order}
    body = []
    for method in methods:
        by_seed = [recall_by_target_kind(rankings[(method, s, split)], kinds, HEADLINE_K) for s in seeds]
        line = [method]
        for kind in order:
            values = np.array([found[kind][0] for found in by_seed])
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            line.append(f"{values.mean():.4f} ± {std:.4f}")
        body.append(line)
    headers = ["method", *(f"{split} R@{HEADLINE_K} {kind} ({counts[kind]} w)" for kind in order)]
    footer = (
        f"{split} windows by the block where the target item is first a positive; "
        "per-window means, mean ± sample std over seeds"
    )
    return format_text_table(headers, body) + "\n" + footer
