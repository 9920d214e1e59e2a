"""Routing throughput (windows/s) of the region bank, against a per-sample loop.

Routes a batch of unit representations (H = 64, SASRec's size) to K regions:

- ``vectorised``: ``RegionBank.route`` over the whole batch (what inference
  and the stream's router do);
- ``per-sample``: the same function called once per window, the way the
  reference code loops in Python;
- ``editing``: ``RegionEditor.edit``, which must go sample by sample because
  each edit moves the bank the next sample is routed against.

Representations are random unit vectors: routing cost depends on N, K and H,
not on the values.

    python bench/routing_throughput.py [--windows 200000] [--dim 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from raie.config import RegionConfig
from raie.regions.bank import RegionBank
from raie.regions.editor import RegionEditor
from raie.regions.geometry import normalize

REGION_COUNTS = (3, 5, 8, 16)
PER_SAMPLE_WINDOWS = 5_000
"""The slow paths are timed on fewer windows; their rate does not depend on N."""


def rate(seconds: float, n: int) -> str:
    return f"{n / seconds:>12,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = normalize(rng.normal(size=(args.windows, args.dim)))
    config = RegionConfig()
    print(f"windows/s, H = {args.dim}, {args.windows:,} windows (per-sample paths on {PER_SAMPLE_WINDOWS:,})")
    print(f"{'K':>3} {'vectorised':>12} {'per-sample':>12} {'editing':>12}")
    for k in REGION_COUNTS:
        bank = RegionBank.build(x[:20_000], k, quantile=0.9, seed=0)
        bank.route(x[:1000], rule=config.confidence, temperature=config.temperature)  # warm-up
        started = time.perf_counter()
        bank.route(x, rule=config.confidence, temperature=config.temperature)
        vectorised = time.perf_counter() - started
        few = x[:PER_SAMPLE_WINDOWS]
        started = time.perf_counter()
        for row in few:
            bank.route(row[None, :], rule=config.confidence, temperature=config.temperature)
        per_sample = time.perf_counter() - started
        editor = RegionEditor(bank.copy(), RegionConfig(regions=k), seed=0)
        started = time.perf_counter()
        editor.edit(few)
        editing = time.perf_counter() - started
        print(f"{k:>3} {rate(vectorised, len(x))} {rate(per_sample, len(few))} {rate(editing, len(few))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
