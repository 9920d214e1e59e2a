"""Choose settings on F's validation windows (never on T).

Trains the Set-up model once per seed, then runs the slice step over F once
per candidate. A candidate is a set of ``--set``-style overrides of the
preset (any section). Prints, per method, Recall@10 on F.valid (the
selection criterion) overall and split by whether the target item occurs in
S's training windows ("old") or not ("new"), and on S.valid (forgetting).
For ``raie`` it also prints the routed model's F.valid before the region
guard chose (the guard may keep the global adapter alone, so the ``raie``
row can equal ``raie-wo-kr``). T is not scored here at all.

    python bench/tune_on_fvalid.py --methods lora,replay,raie \\
        --candidates 'lora.item_embeddings=false' 'lora.item_embeddings=true'
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np

from raie.cli.common import int_list
from raie.config_files import load_config, preset_path
from raie.config_overrides import apply_overrides, parse_override
from raie.device import default_device
from raie.evaluation import rank_windows
from raie.experiment import ExperimentRequest, prepare_data, run_line, setup_state, train_setup_model
from raie.metrics import recall_at
from raie.protocol.windows import Windows
from raie.strategies import lines
from raie.tabular import format_text_table

REPO = Path(__file__).resolve().parents[1]
K = 10


def old_items(windows: Windows) -> set[int]:
    """Items the Set-up model was trained on (as context or target)."""
    return set(np.unique(np.concatenate([windows.context.ravel(), windows.target])).tolist())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data/ml-latest-small")
    parser.add_argument("--seeds", type=int_list, default=(0,))
    parser.add_argument("--methods", default="lora,replay,lwf,raie")
    parser.add_argument("--candidates", nargs="+", default=[""], help="space-separated KEY=VALUE overrides each")
    args = parser.parse_args()
    preset = load_config(preset_path(args.dataset))
    methods = tuple(args.methods.split(","))
    request = ExperimentRequest(args.dataset, args.data_dir, "sasrec", methods, args.seeds, Path("unused"), preset)
    data = prepare_data(request)
    device = default_device()
    f_valid, s_valid = data.block("F").valid, data.block("S").valid
    is_new = ~np.isin(f_valid.target, list(old_items(data.block("S").train)))
    print(f"F.valid: {len(f_valid)} windows, {int(is_new.sum())} with a target new since S.train", flush=True)
    rows = []
    for seed in args.seeds:
        setup_model = train_setup_model("sasrec", preset, data, seed, device)
        for candidate in args.candidates:
            config = apply_overrides(preset, [parse_override(t) for t in shlex.split(candidate)])
            setup = setup_state(setup_model, data, config, seed, device)
            for editing, line_methods in lines(methods).items():
                started = time.perf_counter()
                line = run_line(setup, data, config, seed, line_methods, editing, Path(tempfile.mkdtemp()), device)
                seconds = time.perf_counter() - started
                guard = line.result.training.guard_recalls
                routed = f"{guard[0]:.4f}" if guard is not None else "-"
                for method in line_methods:
                    model = line.model(method)
                    hits = recall_at(rank_windows(model, f_valid, batch_size=512, device=device).ranks, K)
                    s_recall = rank_windows(model, s_valid, batch_size=512, device=device).recall()
                    rows.append(
                        [
                            candidate or "(preset)",
                            str(seed),
                            method,
                            f"{hits.mean():.4f}",
                            f"{hits[~is_new].mean():.4f}",
                            f"{hits[is_new].mean():.4f}",
                            f"{s_recall:.4f}",
                            routed if method == "raie" else "-",
                            f"{seconds:.0f}",
                        ]
                    )
            headers = ["candidate", "seed", "method", "F.valid R@10", "old", "new", "S.valid R@10"]
            headers += ["routed F.valid", "line s"]
            print(format_text_table(headers, rows), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
