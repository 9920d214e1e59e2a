"""Full-ranking evaluation throughput (windows/s) of SASRec on ml-latest-small.

Scores every S training window (about 20k) against all items, with context
masking, through the same ``rank_windows`` the experiment uses.

    python bench/eval_throughput.py [--repeats 3] [--batch-size 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from raie.backbones import build_backbone
from raie.config_files import load_config, preset_path
from raie.data.dataset import load_dataset
from raie.device import default_device
from raie.evaluation import rank_windows
from raie.protocol.blocks import build_protocol
from raie.protocol.preprocess import preprocess

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description="full-ranking evaluation throughput")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data/ml-latest-small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    config = load_config(preset_path("movielens"))
    dataset = load_dataset("movielens", args.data_dir)
    data = build_protocol(preprocess(dataset.interactions, config.preprocess), config.protocol, dataset.items)
    device = default_device()
    torch.manual_seed(0)
    model = build_backbone("sasrec", config, data.catalog).to(device).eval()
    windows = data.block("S").train
    rank_windows(model, windows.take(torch.arange(1024).numpy()), batch_size=args.batch_size, device=device)
    best = float("inf")
    for _ in range(args.repeats):
        started = time.perf_counter()
        rank_windows(model, windows, batch_size=args.batch_size, device=device)
        best = min(best, time.perf_counter() - started)
    print(
        f"full-ranking eval throughput: {len(windows) / best:,.0f} windows/s "
        f"({len(windows)} windows x {data.n_items} items, batch {args.batch_size}, {device}, "
        f"{torch.get_num_threads()} threads, best of {args.repeats})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
