"""`raie experiment`, `raie data stats` and `raie metrics` end to end, as a user runs them."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from raie.cli.main import main
from raie.config import ExperimentConfig
from raie.store import Store
from tests.paths import ML_LATEST_SMALL

pytestmark = pytest.mark.e2e


@pytest.fixture
def write_config(fast_config: ExperimentConfig, tmp_path: Path) -> Callable[..., Path]:
    """Writes the shared fast settings as a user's YAML file, with sections overridden."""
    # A JSON round trip turns the dataclass tuples into the lists YAML expects.
    base = json.loads(json.dumps(dataclasses.asdict(fast_config)))

    def write(**overrides: object) -> Path:
        path = tmp_path / "fast.yaml"
        path.write_text(yaml.safe_dump({**base, **overrides}))
        return path

    return write


def run_experiment(data_dir: Path, dataset: str, config: Path, store: Path, methods: str, seeds: str) -> int:
    argv = ["experiment", "--dataset", dataset, "--data-dir", str(data_dir), "--config", str(config)]
    return main([*argv, "--methods", methods, "--seeds", seeds, "--store", str(store)])


def printed_cells(text: str) -> dict[str, list[float]]:
    """method -> [S R@10 mean, S N@10 mean, T R@10 mean, T N@10 mean] (per-window means) from the
    printed table, whose columns pair each per-window mean with its per-user one."""
    rows = {}
    for line in text.splitlines():
        numbers = re.findall(r"(\d\.\d{4}) ± \d\.\d{4}", line)
        if len(numbers) == 8:
            rows[line.split()[0]] = [float(n) for n in numbers[0::2]]
    return rows


def test_experiment_table_agrees_with_store_and_rerun_replaces_rows(
    synthetic_yelp_dir: Path, tmp_path: Path, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store_dir, config = tmp_path / "store", write_config()
    methods = "base,lora,replay,lwf"
    assert run_experiment(synthetic_yelp_dir, "yelp", config, store_dir, methods, "0,1") == 0
    printed = printed_cells(capsys.readouterr().out)
    assert set(printed) == set(methods.split(","))
    with Store.open(store_dir) as store:
        rows = store.query(
            "SELECT method, split, metric, avg(value) AS mean FROM experiment_results "
            "WHERE k = 10 AND average = 'window' GROUP BY ALL"
        ).to_pylist()
        count = store.query("SELECT count(*) AS n FROM experiment_results").column("n")[0].as_py()
    # 4 methods x 2 seeds x 2 splits x 2 metrics x 3 cutoffs x 2 averages
    assert count == 4 * 2 * 2 * 2 * 3 * 2
    order = [("S", "recall"), ("S", "ndcg"), ("T", "recall"), ("T", "ndcg")]
    for row in rows:
        column = order.index((row["split"], row["metric"]))
        assert printed[row["method"]][column] == pytest.approx(row["mean"], abs=5e-5)

    assert run_experiment(synthetic_yelp_dir, "yelp", config, store_dir, "lora", "1") == 0
    with Store.open(store_dir) as store:
        again = store.query("SELECT count(*) AS n FROM experiment_results").column("n")[0].as_py()
    assert again == count


def test_movielens_bundled_data_runs_end_to_end(
    tmp_path: Path, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(dataset="movielens", preprocess={"min_rating": 4.0, "k_core": 0})
    assert run_experiment(ML_LATEST_SMALL, "movielens", config, tmp_path / "s", "base,lora", "0") == 0
    out = capsys.readouterr().out
    assert set(printed_cells(out)) == {"base", "lora"}
    assert "lora - base" in out  # the paired bootstrap line


def test_data_stats_prints_every_block(synthetic_yelp_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", "--dataset", "yelp", "--data-dir", str(synthetic_yelp_dir)]) == 0
    out = capsys.readouterr().out
    for block in ("S ", "F ", "T ", "all"):
        assert re.search(rf"^{block}", out, re.MULTILINE)


def test_metrics_sql_in_every_format(
    tmp_path: Path, synthetic_yelp_dir: Path, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store_dir = tmp_path / "store"
    assert run_experiment(synthetic_yelp_dir, "yelp", write_config(), store_dir, "base", "0") == 0
    capsys.readouterr()
    sql = (
        "SELECT split, value FROM experiment_results WHERE metric='recall' AND k=10 AND average='window' ORDER BY split"
    )
    assert main(["metrics", "--store", str(store_dir), "--sql", sql, "--format", "json"]) == 0
    assert [r["split"] for r in json.loads(capsys.readouterr().out)] == ["S", "T"]
    assert main(["metrics", "--store", str(store_dir), "--sql", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "split,value"


def test_bad_input_exits_2_with_a_message_naming_the_problem(
    tmp_path: Path, synthetic_yelp_dir: Path, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_config(protocol={"context_len": 0})
    assert run_experiment(synthetic_yelp_dir, "yelp", bad, tmp_path / "s", "base", "0") == 2
    assert "protocol.context_len" in capsys.readouterr().err
    good = write_config()
    assert run_experiment(tmp_path / "missing", "yelp", good, tmp_path / "s", "base", "0") == 2
    assert "missing: data directory does not exist" in capsys.readouterr().err
    assert main(["metrics", "--store", str(tmp_path / "absent"), "--sql", "SELECT 1"]) == 2
    assert "absent" in capsys.readouterr().err
    assert run_experiment(synthetic_yelp_dir, "yelp", good, tmp_path / "s", "base,magic", "0") == 2
    assert "unknown method(s) ['magic']" in capsys.readouterr().err
    argv = ["experiment", "--dataset", "yelp", "--data-dir", str(synthetic_yelp_dir), "--k", "0"]
    assert main(argv) == 2
    assert "'--k': 0 < 1" in capsys.readouterr().err
