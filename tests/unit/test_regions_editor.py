"""Region editing on generated drift: each op fires where the geometry says it should."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from raie.config import RegionConfig
from raie.regions.bank import RegionBank
from raie.regions.editor import NO_REGION, RegionEditor
from tests.unit.regions_data import around, axis, three_clusters

pytestmark = pytest.mark.unit

CONFIG = RegionConfig(
    regions=3, temperature=0.1, tau=0.3, delta=0.2, buffer_size=32, add_clusters=1, min_region_size=16
)


def editor(config: RegionConfig = CONFIG) -> RegionEditor:
    bank = RegionBank.build(three_clusters(np.random.default_rng(0)), 3, quantile=0.9, seed=0)
    return RegionEditor(bank, config, seed=0)


def test_samples_deep_inside_a_region_update_it() -> None:
    ed = editor()
    home = ed.bank.centres[2].copy()
    radius_before = ed.bank.radius[2]
    out = ed.edit(around(home, 3.0, 40, np.random.default_rng(1)))
    assert set(out.op) == {"update"} and set(out.region) == {2}
    # EMA: the radius moves towards the 3-degree distances, the count grows.
    assert ed.bank.radius[2] < radius_before
    assert ed.bank.count[2] == 200 + 40
    assert float(ed.bank.centres[2] @ home) > 0.99


def test_samples_on_a_region_boundary_expand_it_up_to_the_cap() -> None:
    ed = editor(dataclasses.replace(CONFIG, eta=0.05, beta=0.0, max_radius_deg=45.0))
    rng = np.random.default_rng(2)
    radius = float(np.rad2deg(ed.bank.radius[1]))
    for _ in range(15):
        # Each sample lands just past the region's current boundary.
        edge = float(np.rad2deg(ed.bank.radius[1])) * 1.02
        out = ed.edit(around(ed.bank.centres[1].copy(), edge, 1, rng))
        assert out.op.tolist() == ["expand"] and out.region.tolist() == [1]
    assert radius < 40.0 and np.rad2deg(ed.bank.radius[1]) == pytest.approx(45.0)


def test_samples_far_from_every_region_are_buffered_then_become_a_new_region() -> None:
    ed = editor()
    rng = np.random.default_rng(3)
    out = ed.edit(around(axis(8, 5), 5.0, 32, rng, jitter_deg=3.0))
    # 32 samples fill the buffer and form region 3 ...
    assert (out.op == "add").all() and (out.region == NO_REGION).all()
    assert len(ed.bank) == 4 and ed.bank.ids[-1] == 3
    assert float(ed.bank.centres[-1] @ axis(8, 5)) > 0.99
    # ... which then absorbs what arrives near its centre.
    out = ed.edit(around(axis(8, 5), 1.0, 16, rng))
    assert set(out.op) == {"update"} and set(out.region) == {3}
    edits = ed.close_slice()
    assert edits.created == [3]
    assert edits.totals() == {"update": 16, "expand": 0, "add": 32, "create": 1}
    assert edits.counts[(3, "create")] == 32


def test_small_buffer_clusters_join_their_nearest_region_instead() -> None:
    ed = editor(dataclasses.replace(CONFIG, add_clusters=2, min_region_size=20))
    # 26 points near axis 5 and 6 near axis 6: the small cluster is rejected.
    rng = np.random.default_rng(4)
    ed.edit(np.concatenate([around(axis(8, 5), 4.0, 26, rng), around(axis(8, 6), 4.0, 6, rng)]))
    assert len(ed.bank) == 4
    assert ed.bank.count.sum() == 600 + 32
    assert len(ed.bank.buffer) == 0


def test_all_three_ops_fire_on_a_mixed_drift_stream_and_close_bumps_versions() -> None:
    ed = editor()
    rng = np.random.default_rng(5)
    stream = np.concatenate(
        [
            around(ed.bank.centres[0].copy(), 2.0, 20, rng),
            around(ed.bank.centres[1].copy(), float(np.rad2deg(ed.bank.radius[1])), 20, rng),
            around(axis(8, 6), 3.0, 40, rng),
        ]
    )
    ed.edit(stream[rng.permutation(len(stream))])
    edits = ed.close_slice()
    totals = edits.totals()
    assert totals["update"] > 0 and totals["expand"] > 0 and totals["add"] >= 32 and totals["create"] == 1
    assert edits.changed == [0, 1, 3]
    assert ed.bank.version.tolist() == [1, 1, 0, 1]
    assert ed.current.slice_index == edits.slice_index + 1 and not ed.current.counts


def test_editing_does_not_depend_on_batching() -> None:
    stream = np.random.default_rng(6).normal(size=(120, 8)).astype(np.float32)
    whole, parts = editor(), editor()
    a = whole.edit(stream)
    b = [parts.edit(stream[i : i + 7]) for i in range(0, 120, 7)]
    assert np.array_equal(a.op, np.concatenate([p.op for p in b]))
    assert np.array_equal(whole.bank.centres, parts.bank.centres)
    assert np.array_equal(whole.bank.buffer, parts.bank.buffer)


def test_buffer_carries_over_slices_and_survives_a_snapshot(tmp_path: Path) -> None:
    ed = editor()
    rng = np.random.default_rng(7)
    ed.edit(around(axis(8, 7), 3.0, 20, rng))
    ed.close_slice()
    ed.bank.save(tmp_path)
    resumed = RegionEditor(RegionBank.load(tmp_path), CONFIG, seed=0, slice_index=2)
    assert len(resumed.bank.buffer) == 20
    # 12 more complete the buffer of 32 in the next slice: the region forms there.
    resumed.edit(around(axis(8, 7), 3.0, 12, rng))
    assert resumed.close_slice().created == [3]
