"""The rehearsal memory: a bounded, seeded sample of the training windows seen so far.

Adapters rehearse old windows so that they do not forget what came before a
slice. Keeping *every* old window makes slice k cost O(all history): its
windows are routed, saved and sampled each slice. The memory instead keeps at
most ``capacity`` windows, chosen by reservoir sampling (Vitter's Algorithm R):
after any number of slices each window seen so far is in the memory with the
same probability, so early slices are not forgotten faster than late ones.

Each window is kept with its frozen Set-up representation, so a slice routes
the memory against the edited bank (who owns each old window now) without
running the backbone again. Windows stay in arrival order: until the memory is
full it *is* the history, window for window, which keeps the 0.5/0.8 protocol
(one update slice) exactly the offline runner's.

One memory for all regions, not one per region: a region's share of the
rehearsal is decided each slice by routing the memory against the current
bank (regions move, split and appear, so a per-region pool fixed at insertion
would rehearse a region's old windows by where it *used* to be).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.numpy

from raie.protocol.windows import Windows


@dataclass(frozen=True)
class RehearsalMemory:
    windows: Windows
    representations: np.ndarray  # float32 [n, H]: frozen Set-up representation of each window
    arrival: np.ndarray  # int64 [n]: how many windows had been seen before this one
    seen: int  # windows offered to the memory so far
    capacity: int

    def __len__(self) -> int:
        return len(self.windows)

    @classmethod
    def empty(cls, capacity: int, context_len: int, dim: int) -> RehearsalMemory:
        nothing = np.zeros(0, dtype=np.int64)
        windows = Windows(nothing, np.zeros((0, context_len), dtype=np.int64), nothing, nothing)
        return cls(windows, np.zeros((0, dim), dtype=np.float32), nothing, 0, capacity)

    def offer(self, windows: Windows, representations: np.ndarray, seed: int) -> RehearsalMemory:
        """The memory after ``windows`` (in arrival order) were offered to it; ``seed`` makes it repeatable."""
        rng = np.random.default_rng(seed)
        n_new, kept = len(windows), len(self)
        arrival = self.seen + np.arange(n_new, dtype=np.int64)
        # Algorithm R: the i-th window seen (0-based) takes slot j ~ U[0, i] when j < capacity.
        slot = np.full(n_new, -1, dtype=np.int64)
        fill = min(n_new, max(self.capacity - kept, 0))
        slot[:fill] = kept + np.arange(fill)
        if fill < n_new:
            draws = rng.integers(0, arrival[fill:] + 1)
            slot[fill:] = np.where(draws < self.capacity, draws, -1)
        # A later window landing in the same slot replaces an earlier one: keep each slot's last.
        final = np.full(kept + fill, -1, dtype=np.int64)
        taken = np.flatnonzero(slot >= 0)
        np.maximum.at(final, slot[taken], taken)
        replaced = final[:kept] >= 0
        keep_old = np.flatnonzero(~replaced)
        new_rows = final[final >= 0]
        merged_arrival = np.concatenate([self.arrival[keep_old], arrival[new_rows]])
        order = np.argsort(merged_arrival, kind="stable")
        merged = Windows.concat([self.windows.take(keep_old), windows.take(new_rows)], self.windows.context.shape[1])
        merged_rep = np.concatenate([self.representations[keep_old], representations[new_rows].astype(np.float32)])
        return RehearsalMemory(
            merged.take(order), merged_rep[order], merged_arrival[order], self.seen + n_new, self.capacity
        )

    def save(self, path: Path) -> None:
        w = self.windows
        arrays = {
            "user": w.user,
            "context": w.context,
            "target": w.target,
            "ts": w.ts,
            "representations": self.representations,
            "arrival": self.arrival,
            "seen_capacity": np.array([self.seen, self.capacity], dtype=np.int64),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))

    @classmethod
    def load(cls, path: Path) -> RehearsalMemory:
        a = safetensors.numpy.load_file(str(path))
        seen, capacity = (int(v) for v in a["seen_capacity"])
        windows = Windows(a["user"], a["context"], a["target"], a["ts"])
        return cls(windows, a["representations"], a["arrival"], seen, capacity)
