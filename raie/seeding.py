"""One place that seeds every random generator a run touches, and makes torch repeatable.

Seeds alone do not give the same numbers twice. Two more things do:

* **The intra-op thread count.** A matrix product or a sum is split across
  torch's threads, and float addition is not associative, so a different
  count adds in a different order and the last bits change; in a full
  ranking that is enough to flip a tie between two items. The count is
  therefore pinned and recorded (the run manifest, ``raie/run_manifest.py``).
* **Deterministic kernels.** Some kernels (mostly CUDA ones, such as atomic
  scatter-adds) may add in any order from one call to the next;
  ``torch.use_deterministic_algorithms`` picks a fixed-order kernel where one
  exists.

On CPU, with the same thread count, machine and package versions, a run gives
bit-identical numbers (``tests/e2e/test_bit_identical.py``).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from raie.errors import ConfigError

CUBLAS_WORKSPACE = ":4096:8"
"""cuBLAS adds in a fixed order only with a fixed workspace (CUDA >= 10.2, see
the torch reproducibility notes); torch raises or warns in deterministic mode
without it. The value is one of the two that NVIDIA documents."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_deterministic(threads: int | None = None, device: torch.device | None = None) -> int:
    """Pin torch's thread counts and turn on deterministic algorithms; the intra-op count used.

    ``threads`` None keeps torch's current count (by default one per physical
    core), which is then the count to record and to pass next time to get the
    same numbers on another machine. Call it once at the start of a run,
    before any tensor work on ``device`` (None: CPU).
    """
    if threads is not None:
        if threads < 1:
            raise ConfigError(
                "threads", f"{threads} < 1", "use a positive count, or leave it unset for torch's default"
            )
        torch.set_num_threads(threads)
    used = torch.get_num_threads()
    _pin_interop_threads(used)
    kind = "cpu" if device is None else device.type
    if kind == "cuda":
        # Read when cuBLAS first starts in this process; a value the user set wins.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    # CPU: torch lacks a deterministic kernel only for ops this code never uses
    # (put_, max-unpooling), so a missing one should fail loudly rather than quietly
    # cost repeatability. CUDA and MPS: some kernels every model here needs have no
    # deterministic twin (NLLLoss under cross-entropy on CUDA), so warn and go on;
    # numbers there are repeatable only as far as the kernels allow.
    torch.use_deterministic_algorithms(True, warn_only=kind != "cpu")
    # Benchmark mode times candidate convolution kernels and keeps the fastest,
    # which may differ from run to run.
    torch.backends.cudnn.benchmark = False
    return used


def _pin_interop_threads(threads: int) -> None:
    """Set the inter-op pool to ``threads`` when torch still allows it.

    The inter-op pool only runs independent ops side by side (``torch.jit.fork``),
    so its size never changes a value; it is pinned so that a run uses the cores
    it records. Torch allows setting it once, before any inter-op work starts,
    and raises RuntimeError after that: a second run in the same process (tests,
    notebooks) keeps the pool the first one got.
    """
    if torch.get_num_interop_threads() == threads:
        return
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        return
