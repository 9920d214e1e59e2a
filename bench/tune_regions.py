"""Choose RAIE's hyper-parameters on F's validation windows (never on T).

Trains the Set-up model once, then runs ``raie`` once per candidate: each is
the preset with some ``regions`` fields overridden. Prints Recall@10 on
F.valid (the selection criterion), on S.valid (forgetting), the op counts and
the time. T is not scored here at all. Each trained candidate is also
scored under every ``--tau-infer`` value: that threshold only changes which
adapter serves a window, so it needs no retraining.

    python bench/tune_regions.py --dataset movielens --data-dir data/ml-latest-small \\
        --candidates '{"tau": 0.2}' '{"tau": 0.3}' '{"tau": 0.3, "regions": 5}'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from raie.adapters.routed import RoutedRecommender
from raie.cli.common import float_list
from raie.config import ExperimentConfig, RegionConfig, from_dict, load_config, preset_path
from raie.device import default_device
from raie.evaluation import rank_windows
from raie.experiment import ExperimentRequest, adapt, prepare_data, train_setup_model
from raie.tabular import format_text_table

REPO = Path(__file__).resolve().parents[1]
OPS = ("update", "expand", "add")


def with_regions(config: ExperimentConfig, overrides: dict[str, object]) -> ExperimentConfig:
    merged = {**dataclasses.asdict(config.regions), **overrides}
    return dataclasses.replace(config, regions=from_dict(RegionConfig, merged, prefix="regions."))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data/ml-latest-small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", nargs="+", default=["{}"], help="JSON objects of regions overrides")
    parser.add_argument(
        "--tau-infer", type=float_list, default=None, help="comma-separated fallback thresholds (default: the preset's)"
    )
    args = parser.parse_args()
    config = load_config(preset_path(args.dataset))
    request = ExperimentRequest(args.dataset, args.data_dir, "sasrec", ("raie",), (args.seed,), Path("unused"), config)
    data = prepare_data(request)
    device = default_device()
    setup_model = train_setup_model("sasrec", config, data, args.seed, device)
    rows = []
    for candidate in args.candidates:
        overrides = json.loads(candidate)
        tuned = with_regions(config, overrides)
        started = time.perf_counter()
        model, tables = adapt("raie", setup_model, data, tuned, args.seed, Path(tempfile.mkdtemp()), device)
        seconds = time.perf_counter() - started
        ops = {op: 0 for op in OPS}
        for row in tables.get("edits", []):
            if row["op"] in ops:
                ops[row["op"]] += row["count"]
        regions = len({r["region_id"] for r in tables["regions"] if r["stage"] == "after"})
        for tau_infer in args.tau_infer or (tuned.regions.tau_infer,):
            if isinstance(model, RoutedRecommender):
                model.router.config = dataclasses.replace(tuned.regions, tau_infer=tau_infer)
            recalls = [
                rank_windows(model, data.block(b).valid, batch_size=tuned.eval_batch_size, device=device).recall()
                for b in ("F", "S")
            ]
            scored = [f"{recall:.4f}" for recall in recalls]
            label = json.dumps({**overrides, "tau_infer": tau_infer})
            rows.append([label, *scored, *map(str, ops.values()), str(regions), f"{seconds:.0f}"])
        print(format_text_table(["overrides", "F.valid R@10", "S.valid R@10", *OPS, "regions", "s"], rows), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
