"""The rehearsal memory: exact history until full, a bounded uniform sample after, repeatable, safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raie.online.memory import RehearsalMemory
from raie.protocol.windows import Windows

pytestmark = pytest.mark.unit

L, H = 3, 4


def windows(start: int, n: int) -> tuple[Windows, np.ndarray]:
    """``n`` windows whose target (and timestamp) is their arrival number, with matching representations."""
    ids = np.arange(start, start + n, dtype=np.int64)
    context = np.repeat(ids[:, None], L, axis=1)
    rep = np.repeat(ids[:, None].astype(np.float32), H, axis=1)
    return Windows(ids, context, ids, ids), rep


def test_until_full_the_memory_is_the_history_in_arrival_order() -> None:
    memory = RehearsalMemory.empty(100, L, H)
    for start in (0, 30, 60):
        memory = memory.offer(*windows(start, 30), seed=start)
    assert memory.seen == 90 and len(memory) == 90
    np.testing.assert_array_equal(memory.windows.target, np.arange(90))
    np.testing.assert_array_equal(memory.representations[:, 0], np.arange(90))


def test_once_full_it_keeps_capacity_windows_in_arrival_order_with_their_representations() -> None:
    memory = RehearsalMemory.empty(50, L, H)
    for start in range(0, 1000, 100):
        memory = memory.offer(*windows(start, 100), seed=start)
        assert len(memory) == 50
    assert memory.seen == 1000
    assert np.all(np.diff(memory.arrival) > 0), "arrival order, no window twice"
    np.testing.assert_array_equal(memory.windows.target, memory.arrival)
    np.testing.assert_array_equal(memory.representations[:, 0], memory.arrival)


def test_every_window_seen_is_equally_likely_to_be_kept() -> None:
    # Algorithm R: after N offers each window is kept with probability capacity / N, early or late.
    capacity, slices, per_slice, runs = 20, 5, 40, 400
    kept = np.zeros(slices * per_slice)
    for run in range(runs):
        memory = RehearsalMemory.empty(capacity, L, H)
        for s in range(slices):
            memory = memory.offer(*windows(s * per_slice, per_slice), seed=run * slices + s)
        kept[memory.arrival] += 1
    share_per_slice = kept.reshape(slices, per_slice).sum(axis=1) / (runs * capacity)
    np.testing.assert_allclose(share_per_slice, 1 / slices, atol=0.03)


def test_the_same_seed_keeps_the_same_windows_and_a_file_round_trips(tmp_path: Path) -> None:
    first = RehearsalMemory.empty(10, L, H).offer(*windows(0, 40), seed=1).offer(*windows(40, 40), seed=2)
    again = RehearsalMemory.empty(10, L, H).offer(*windows(0, 40), seed=1).offer(*windows(40, 40), seed=2)
    other = RehearsalMemory.empty(10, L, H).offer(*windows(0, 40), seed=1).offer(*windows(40, 40), seed=3)
    np.testing.assert_array_equal(first.arrival, again.arrival)
    assert not np.array_equal(first.arrival, other.arrival)
    first.save(tmp_path / "memory.safetensors")
    loaded = RehearsalMemory.load(tmp_path / "memory.safetensors")
    assert (loaded.seen, loaded.capacity) == (80, 10)
    np.testing.assert_array_equal(loaded.windows.context, first.windows.context)
    np.testing.assert_array_equal(loaded.representations, first.representations)
