"""The printed tables: per-window beside per-user means, clustered intervals, the goal line, target kinds."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from raie.evaluation import Ranking
from raie.report import (
    baseline_differences_table,
    cost_table,
    differences_table,
    results_table,
    target_kind_table,
)
from raie.store import Store, table_spec

pytestmark = pytest.mark.unit

RankingsByKey = dict[tuple[str, int, str], Ranking]


def result_row(method: str, seed: int, split: str, average: str, value: float) -> dict[str, object]:
    return {
        "run_id": "r",
        "dataset": "d",
        "backbone": "sasrec",
        "method": method,
        "seed": seed,
        "split": split,
        "metric": "recall",
        "k": 10,
        "average": average,
        "value": value,
        "n_windows": 40,
        "created_at": datetime.now(UTC),
    }


def test_results_table_shows_user_means_beside_window_means(tmp_path: Path) -> None:
    rows = [result_row("lora", s, "T", "window", 0.2 + 0.1 * s) for s in (0, 1)]
    rows += [result_row("lora", s, "T", "user", 0.5) for s in (0, 1)]
    with Store.open(tmp_path / "store") as store:
        store.write("experiment_results", pa.Table.from_pylist(rows, schema=table_spec("experiment_results").schema))
        text = results_table(store, "r", ("lora", "base"))
    header, _, lora, base = text.splitlines()[:4]
    assert "T R@10  " in header and "T R@10 (user)" in header and "S N@10 (user)" in header
    assert "0.2500 ± 0.0707" in lora and "0.5000 ± 0.0000" in lora
    assert lora.split()[-1] == "2" and base.split()[-1] == "0"
    assert "T 40" in text


def rankings_of(ranks: dict[str, np.ndarray], users: np.ndarray, seeds: tuple[int, ...]) -> RankingsByKey:
    """The same ranks for every seed and split: enough to read the tables."""
    return {(m, s, split): Ranking(r, users) for m, r in ranks.items() for s in seeds for split in ("S", "T")}


def test_differences_use_the_user_clustered_interval() -> None:
    users = np.repeat(np.arange(30), 10)
    rng = np.random.default_rng(0)
    base = np.where(rng.random(300) < 0.3, 1, 50)
    better = np.where(np.repeat(rng.random(30) < 0.8, 10), 1, base)  # most users gain all their windows
    rankings = rankings_of({"base": base, "lora": better, "same": base}, users, (0, 1))
    text = differences_table(rankings, ("base", "lora", "same"), (0, 1))
    assert text is not None
    lines = text.splitlines()
    assert lines[2].startswith("lora - base") and lines[2].endswith("*")
    assert lines[3].startswith("same - base") and "+0.0000 [+0.0000, +0.0000]" in lines[3]
    assert "resamples of users (S 30, T 30) with all their windows" in text
    assert differences_table(rankings, ("lora",), (0,)) is None


def test_the_goal_line_compares_raie_with_the_best_baseline() -> None:
    users = np.repeat(np.arange(40), 5)
    rng = np.random.default_rng(1)
    lora = np.where(rng.random(200) < 0.4, 1, 50)
    replay = np.where(rng.random(200) < 0.1, 1, 50)
    raie = np.where(np.repeat(rng.random(40) < 0.7, 5), 1, lora)
    ranks = {"base": replay, "lora": lora, "replay": replay, "raie": raie}
    text = baseline_differences_table(rankings_of(ranks, users, (0,)), tuple(ranks), (0,))
    assert text is not None
    assert text.splitlines()[0] == "against the best global baseline on T R@10 (lora):"
    assert "raie - lora" in text and text.endswith("above 0: met")
    even = baseline_differences_table(rankings_of({**ranks, "raie": lora}, users, (0,)), tuple(ranks), (0,))
    assert even is not None and even.endswith("above 0: not met")
    assert baseline_differences_table(rankings_of(ranks, users, (0,)), ("base", "raie"), (0,)) is None


def test_target_kind_table_splits_recall_by_kind() -> None:
    kinds = np.array(["first_in_T", "seen_in_S", "seen_in_S", "first_in_F"])
    users = np.array([0, 0, 1, 1])
    rankings = {
        ("lora", 0, "T"): Ranking(np.array([1, 1, 30, 30]), users),
        ("lora", 1, "T"): Ranking(np.array([30, 30, 1, 30]), users),
    }
    text = target_kind_table(rankings, ("lora",), (0, 1), kinds)
    header, _, row = text.splitlines()[:3]
    assert header.index("seen_in_S (2 w)") < header.index("first_in_F (1 w)") < header.index("first_in_T (1 w)")
    # seen_in_S: 0.5 in both seeds; first_in_F: 0 and 0; first_in_T: 1 then 0.
    assert row.split("  ")[0] == "lora"
    assert [c.strip() for c in row.split("  ") if c.strip()][1:] == [
        "0.5000 ± 0.0000",
        "0.0000 ± 0.0000",
        "0.5000 ± 0.7071",
    ]


def test_cost_table_averages_each_methods_slices_and_says_when_nothing_was_recorded(tmp_path: Path) -> None:
    def cost(method: str, seed: int, parameters: int, seconds: float, ms: float | None) -> dict[str, object]:
        return {
            "run_id": "r",
            "method": method,
            "seed": seed,
            "slice": 1,
            "trained_parameters": parameters,
            "train_jobs": int(parameters > 0),
            "train_seconds": seconds,
            "scored_windows": 40,
            "scoring_seconds": 0.0 if ms is None else ms * 0.04,
            "scoring_ms_per_window": ms,
        }

    rows = [cost("lora", 0, 1000, 10.0, 0.5), cost("lora", 1, 1000, 20.0, 0.7), cost("base", 0, 0, 0.0, 0.1)]
    with Store.open(tmp_path / "store") as store:
        assert cost_table(store, "r", ("base", "lora")) is None, "no costs recorded: no table"
        store.write("method_costs", pa.Table.from_pylist(rows, schema=table_spec("method_costs").schema))
        text = cost_table(store, "r", ("base", "lora", "raie"))
    assert text is not None
    lines = {line.split()[0]: line for line in text.splitlines()[2:5]}
    assert "1,000" in lines["lora"] and "15.0 ± 7.1" in lines["lora"] and "0.600 ± 0.141" in lines["lora"]
    assert lines["base"].split()[1] == "0"
    assert lines["raie"].split()[1:] == ["-", "-", "-", "-"], "a method without rows shows dashes"
