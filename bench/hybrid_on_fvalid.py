"""Choose the hybrid strategy's retrieval settings on F's validation windows (never on T).

Trains the Set-up model and the LoRA fine-tune on F once per seed (the
hybrid's adapter is trained exactly like ``lora``'s), then prints F.valid
Recall@10 of the blend ``(1 - w) * model + w * retrieved`` for every number
of neighbours and weight asked for, over the fine-tuned model and over the
Set-up model (retrieval alone on the frozen model). The index is what a
hybrid fine-tune chooses its weight with: F's training and validation
windows, each validation window seeing only other users' earlier ones.

    python bench/hybrid_on_fvalid.py --neighbours 50,200,500 --weights 0,0.05,0.1,0.2,0.3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from raie.cli.common import int_list
from raie.config_files import load_config, preset_path
from raie.device import default_device
from raie.evaluation import rank_windows
from raie.experiment import ExperimentRequest, prepare_data, run_line, setup_state, train_setup_model
from raie.protocol.windows import Windows
from raie.regions.router import represent_windows
from raie.retrieval import RetrievalBlend, retrieve
from raie.seeding import make_deterministic
from raie.tabular import format_text_table

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data/ml-latest-small")
    parser.add_argument("--seeds", type=int_list, default=(0,))
    parser.add_argument("--neighbours", type=int_list, default=(10, 50, 200, 500, 1000))
    parser.add_argument("--weights", default="0,0.05,0.1,0.2,0.3,0.5")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    device = default_device()
    make_deterministic(None, device)
    preset = load_config(preset_path(args.dataset))
    request = ExperimentRequest(args.dataset, args.data_dir, "sasrec", ("lora",), args.seeds, Path("unused"), preset)
    data = prepare_data(request)
    update = data.block("F")
    index = Windows.concat([update.train, update.valid], preset.protocol.context_len)
    rows: list[list[str]] = []
    for seed in args.seeds:
        setup_model = train_setup_model("sasrec", preset, data, seed, device)
        setup = setup_state(setup_model, data, preset, seed, device)
        with tempfile.TemporaryDirectory() as root:
            line = run_line(setup, data, preset, seed, ("lora",), True, Path(root), device)
            models = {"lora": line.model("lora"), "setup": setup_model}
            index_rep = represent_windows(setup_model, index, device)
            valid_rep = index_rep[len(update.train) :]
            for k in args.neighbours:
                started = time.perf_counter()
                neighbours = retrieve(index, index_rep, update.valid, valid_rep, k)
                seconds = time.perf_counter() - started
                for name, model in models.items():
                    recalls = [
                        rank_windows(
                            model,
                            update.valid,
                            batch_size=preset.eval_batch_size,
                            device=device,
                            blend=RetrievalBlend(neighbours, w),
                        ).recall()
                        for w in weights
                    ]
                    rows.append([str(seed), name, str(k), f"{seconds:.2f}", *(f"{r:.4f}" for r in recalls)])
    headers = ["seed", "model", "neighbours", "retrieve s", *(f"w={w:g}" for w in weights)]
    print(format_text_table(headers, rows))
    print(f"F.valid R@10 ({len(update.valid)} windows); index: F.train + F.valid ({len(index)} windows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
