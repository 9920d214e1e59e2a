"""``raie metrics --report`` and ``--plot`` over a store the slice session wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raie.cli.main import main
from raie.config import ExperimentConfig
from raie.protocol.blocks import ProtocolData
from raie.slice_reports import REPORTS, run_report
from raie.store import Store
from tests.online_replay import replay_session

pytestmark = pytest.mark.unit

RUN = "stream-test"


@pytest.fixture(scope="module")
def store_dir(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = tmp_path_factory.mktemp("stream") / "store"
    with Store.open(root) as store:  # the stream opens its store before it writes artifacts into it
        outcomes = replay_session(synthetic_data, fast_config, root)
        for outcome in outcomes:
            outcome.store(store, RUN, 0)
        outcomes[1].store(store, RUN, 0)  # a slice closed twice (a restarted stream)
    return root


def json_report(store_dir: Path, name: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert main(["metrics", "--store", str(store_dir), "--report", name, "--format", "json"]) == 0
    rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return rows


def test_slices_report_scores_every_update_slice_for_each_method(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = json_report(store_dir, "slices", capsys)
    assert {(r["slice"], r["method"]) for r in rows} == {(s, m) for s in (1, 2) for m in ("raie", "raie-wo-kr", "base")}
    assert all(0 <= float(str(r["R@10"])) <= 1 for r in rows)


def test_a_slice_stored_twice_has_its_rows_once(store_dir: Path) -> None:
    with Store.open(store_dir, create=False, read_only=True) as store:
        duplicated = store.query(
            "SELECT method, slice, role, user_id, position, count(*) AS n FROM windows GROUP BY ALL HAVING n > 1"
        )
        metrics = store.query("SELECT count(*) AS n FROM metrics WHERE slice = 1 AND method = 'raie'")
    assert duplicated.num_rows == 0
    assert metrics.column("n")[0].as_py() == 12, "recall and ndcg at 3 cutoffs, 2 averages"


def test_region_ops_and_jobs_reports_agree_with_the_slice_tables(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    regions = json_report(store_dir, "regions", capsys)
    ops = json_report(store_dir, "ops", capsys)
    jobs = json_report(store_dir, "jobs", capsys)
    with Store.open(store_dir, create=False, read_only=True) as store:
        scored = store.query(
            "SELECT slice, count(*) AS n FROM windows WHERE role = 'eval' AND method = 'raie' GROUP BY 1"
        )
        edited = store.query(
            "SELECT slice, op, count(*) AS n FROM windows WHERE role = 'train' AND op IS NOT NULL GROUP BY ALL"
        )
    per_slice = {r["slice"]: r["n"] for r in scored.to_pylist()}
    assert {s: sum(int(str(r["scored"])) for r in regions if r["slice"] == s) for s in per_slice} == per_slice
    for row in edited.to_pylist():
        assert next(o for o in ops if o["slice"] == row["slice"])[f"{row['op']}s"] == row["n"]
    assert {r["adapter"] for r in jobs if r["slice"] == 1} >= {"global"}
    assert all(r["status"] == "finished" and r["version"] == r["slice"] for r in jobs)


def test_every_report_filters_by_run(store_dir: Path) -> None:
    with Store.open(store_dir, create=False, read_only=True) as store:
        for name in REPORTS:
            assert run_report(store, name, RUN).num_rows > 0, name
            assert run_report(store, name, "no-such-run").num_rows == 0, name


def test_plot_is_a_png(store_dir: Path, tmp_path: Path) -> None:
    plot = tmp_path / "slices.png"
    assert main(["metrics", "--store", str(store_dir), "--report", "slices", "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_requests_name_the_option_and_the_fix(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["metrics", "--store", str(store_dir)]) == 2
    assert "--report" in capsys.readouterr().err
    empty = tmp_path / "empty"
    Store.open(empty).close()
    assert main(["metrics", "--store", str(empty), "--plot", str(tmp_path / "p.png")]) == 2
    assert "no prequential metrics" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["metrics", "--store", str(store_dir), "--report", "nope"])
    assert main(["metrics", "--store", str(store_dir), "--report", "ops", "--show-sql"]) == 0
    assert "FROM edits" in capsys.readouterr().out
