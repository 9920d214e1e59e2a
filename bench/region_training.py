"""Per-region adapter training time of RAIE on ml-latest-small (one seed).

Trains the Set-up SASRec, runs the ``raie`` strategy with the shipped
preset, and prints each training job: the global adapter and every edited
or new region's adapter, with its data sizes, the epochs early stopping ran
and kept, and its wall time.

    python bench/region_training.py [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from raie.config_files import load_config, preset_path
from raie.device import default_device
from raie.experiment import ExperimentRequest, adapt, prepare_data, train_setup_model
from raie.tabular import format_text_table

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "data/ml-latest-small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = load_config(preset_path("movielens"))
    request = ExperimentRequest("movielens", args.data_dir, "sasrec", ("raie",), (args.seed,), Path("unused"), config)
    data = prepare_data(request)
    device = default_device()
    setup_model = train_setup_model("sasrec", config, data, args.seed, device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        _, tables = adapt("raie", setup_model, data, config, args.seed, Path(root), device)
    total = time.perf_counter() - started
    jobs = tables["train_jobs"]
    rows = [
        [
            job["adapter"],
            str(job["new_windows"]),
            str(job["old_windows"]),
            f"{job['epochs_run']} ({job['best_epoch']})",
            f"{job['seconds']:.1f}",
            f"{1000 * job['seconds'] / max(job['epochs_run'], 1) / (job['new_windows'] + job['old_windows']):.2f}",
        ]
        for job in jobs
    ]
    headers = ["adapter", "new windows", "rehearsed", "epochs (kept)", "seconds", "ms / window-epoch"]
    print(f"device {device}; raie update (regions, editing, all training) {total:.1f} s")
    print(format_text_table(headers, rows))
    regions = [job["seconds"] for job in jobs if job["adapter"] != "global"]
    if regions:
        print(f"region adapters: {len(regions)}, mean {sum(regions) / len(regions):.1f} s, max {max(regions):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
