"""The ``lm`` backbone's speed: raw encode throughput, inside-pipeline throughput, LoRA step time.

- raw: the LM encoding prompts of T windows in batches (prompt building
  included), windows/s, frozen and with a LoRA adapter active;
- pipeline: full-ranking evaluation of the same windows through
  ``rank_windows`` with the adapter active (no cache), windows/s. The
  issue's goal is pipeline >= 0.8 x raw, compared with the same adapter;
- LoRA step: one optimiser step at batch 32, seconds.

    python bench/lm_encode.py [--windows 512] [--model minilm]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from raie.backbones import build_backbone
from raie.backbones.lm import LMRecommender
from raie.backbones.lora import adapted_backbone, with_lora
from raie.config_files import load_config, preset_path
from raie.device import default_device
from raie.evaluation import rank_windows
from raie.experiment import ExperimentRequest, prepare_data
from raie.protocol.windows import Windows
from raie.training import cross_entropy

REPO = Path(__file__).resolve().parents[1]
STEP_BATCH = 32


def encode_rate(model: LMRecommender, windows: Windows, batch: int, device: torch.device) -> float:
    with torch.inference_mode():
        started = time.perf_counter()
        for start in range(0, len(windows), batch):
            model.encode(torch.from_numpy(windows.context[start : start + batch]).to(device))
        return len(windows) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO / "data/ml-latest-small")
    parser.add_argument("--windows", type=int, default=512)
    parser.add_argument("--model", default="minilm")
    args = parser.parse_args()
    config = load_config(preset_path("movielens"))
    config = dataclasses.replace(config, lm=dataclasses.replace(config.lm, model=args.model))
    data = prepare_data(ExperimentRequest("movielens", args.data_dir, "lm", (), (), Path("unused"), config))
    device = default_device()
    started = time.perf_counter()
    model = build_backbone("lm", config, data.catalog).to(device).eval()
    assert isinstance(model, LMRecommender)
    loading = time.perf_counter() - started
    print(f"device {device}; model {args.model}; load + {data.n_items} item-text embeddings {loading:.1f} s")
    windows = data.block("T").eval.take(np.arange(min(args.windows, len(data.block("T").eval))))
    batch = config.lm.encode_batch
    frozen = encode_rate(model, windows, batch, device)
    wrapped = with_lora(model, config.lora).to(device)
    adapted = adapted_backbone(wrapped)
    assert isinstance(adapted, LMRecommender)
    adapted.eval()
    encode_rate(adapted, windows.take(np.arange(batch)), batch, device)  # warm-up: first calls through peft are slow
    raw = encode_rate(adapted, windows, batch, device)
    started = time.perf_counter()
    rank_windows(adapted, windows, batch_size=batch, device=device)
    pipeline = len(windows) / (time.perf_counter() - started)
    print(f"raw encode: frozen {frozen:.1f} windows/s, with LoRA {raw:.1f} windows/s")
    print(f"in rank_windows with LoRA {pipeline:.1f} windows/s = {pipeline / raw:.2f} x raw encode with LoRA")
    adapted.train()
    loss_fn = cross_entropy(adapted)
    optimiser = torch.optim.Adam([p for p in wrapped.parameters() if p.requires_grad], lr=1e-3)
    times = []
    for step in range(3):
        rows = np.arange(step * STEP_BATCH, (step + 1) * STEP_BATCH)
        context = torch.from_numpy(windows.context[rows]).to(device)
        target = torch.from_numpy(windows.target[rows]).to(device)
        started = time.perf_counter()
        loss = loss_fn(context, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        times.append(time.perf_counter() - started)
    print(
        f"LoRA step at batch {STEP_BATCH}, {config.lm.max_tokens}-token budget: {np.median(times):.2f} s (median of 3)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
