"""RAIE through the CLI: experiment rows, region tables, the regions report and its PNG."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from raie.cli.main import main
from raie.config import ExperimentConfig, RegionConfig
from raie.store import Store

pytestmark = pytest.mark.e2e

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_raie_experiment_records_regions_and_the_report_reads_them(
    synthetic_yelp_dir: Path, fast_config: ExperimentConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    regions = RegionConfig(regions=2, buffer_size=24, min_region_size=8, tau=0.3)
    values = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(fast_config, regions=regions))))
    config = tmp_path / "raie.yaml"
    config.write_text(yaml.safe_dump(values))
    store_dir = tmp_path / "store"
    argv = ["experiment", "--dataset", "yelp", "--data-dir", str(synthetic_yelp_dir), "--config", str(config)]
    argv += ["--methods", "base,lora,raie,raie-wo-ke", "--seeds", "0", "--store", str(store_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "raie - base" in out and "raie-wo-ke - base" in out
    # RAIE is also compared with the best single-adapter baseline, here the only one.
    assert "against the best global baseline on T R@10 (lora)" in out and "raie - lora" in out

    def counts() -> dict[str, int]:
        with Store.open(store_dir, read_only=True) as store:
            return {
                table: store.query(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()
                for table in ("experiment_results", "regions", "edits", "routing", "train_jobs")
            }

    first = counts()
    with Store.open(store_dir, read_only=True) as store:
        routed = store.query(
            "SELECT split, sum(windows) AS n FROM routing WHERE method = 'raie' GROUP BY split ORDER BY split"
        ).to_pylist()
        scored = store.query(
            "SELECT split, max(n_windows) AS n FROM experiment_results WHERE method = 'raie' GROUP BY split "
            "ORDER BY split"
        ).to_pylist()
        ops = store.query("SELECT DISTINCT op FROM edits WHERE method = 'raie'").column("op").to_pylist()
        ablation_edits = store.query("SELECT count(*) AS n FROM edits WHERE method = 'raie-wo-ke'").column("n")
    # Every scored window was served by exactly one adapter.
    assert routed == scored
    assert {"update", "add"} <= set(ops)
    assert ablation_edits[0].as_py() == 0

    plot = tmp_path / "map.png"
    assert main(["regions", "report", "--store", str(store_dir), "--plot", str(plot)]) == 0
    report = capsys.readouterr().out
    assert "separability" in report
    assert plot.read_bytes().startswith(PNG_MAGIC)

    # Re-running one method replaces its rows in every table.
    argv[argv.index("--methods") + 1] = "raie"
    assert main(argv) == 0
    assert counts() == first
