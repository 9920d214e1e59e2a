"""Region editing on generated drift: each op fires where the geometry says it should."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from raie.config import RegionConfig
from raie.regions.bank import UNKNOWN_USER, RegionBank
from raie.regions.editor import NO_REGION, RegionEditor
from tests.unit.regions_data import around, axis, three_clusters

pytestmark = pytest.mark.unit

CONFIG = RegionConfig(
    regions=3, temperature=0.1, tau=0.3, delta=0.2, buffer_size=32, add_clusters=1, min_region_size=16
)


DIM = 64
SETUP_SAMPLES, STREAM_SAMPLES = 3000, 9000
USERS_PER_CLUSTER = 200


def mixture(axes: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit rows from clusters around ``axes``, each at a log-normal angle (median 30 degrees,
    a tail several degrees long) in a random direction; with each row's user, one of its cluster's."""
    cluster = rng.integers(len(axes), size=n)
    tangent = rng.normal(size=(n, axes.shape[1]))
    tangent -= (tangent @ axes.T)[np.arange(n), cluster][:, None] * axes[cluster]
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    angle = np.deg2rad(30.0 * rng.lognormal(0.0, 0.15, size=(n, 1)))
    x = (np.cos(angle) * axes[cluster] + np.sin(angle) * tangent).astype(np.float32)
    return x, cluster * USERS_PER_CLUSTER + rng.integers(USERS_PER_CLUSTER, size=n)


def orthonormal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(DIM, n)))
    return q.T


def editor(config: RegionConfig = CONFIG) -> RegionEditor:
    bank = RegionBank.build(three_clusters(np.random.default_rng(0)), 3, quantile=0.9, seed=0)
    return RegionEditor(bank, config, seed=0)


def test_samples_deep_inside_a_region_update_it() -> None:
    ed = editor()
    home = ed.bank.centres[2].copy()
    radius_before = ed.bank.radius[2]
    out = ed.edit(around(home, 3.0, 40, np.random.default_rng(1)))
    assert set(out.op) == {"update"} and set(out.region) == {2}
    # Members inside the radius pull it in, by (1 - q) of a step that shrinks with the count.
    assert radius_before * 0.9 < ed.bank.radius[2] < radius_before
    assert ed.bank.count[2] == 200 + 40
    assert float(ed.bank.centres[2] @ home) > 0.99


def test_samples_on_a_region_boundary_expand_it_up_to_the_cap() -> None:
    base = editor()
    radius = float(np.rad2deg(base.bank.radius[1]))
    ed = editor(dataclasses.replace(CONFIG, max_radius_deg=radius * 1.1))
    rng = np.random.default_rng(2)
    for _ in range(15):
        # Each sample lands just past the region's current boundary: ambiguous, and outside.
        edge = float(np.rad2deg(ed.bank.radius[1])) * 1.02
        out = ed.edit(around(ed.bank.centres[1].copy(), edge, 1, rng))
        assert out.op.tolist() == ["expand"] and out.region.tolist() == [1]
    # Members outside the radius push it out (the quantile tracker), never past the cap.
    assert np.rad2deg(ed.bank.radius[1]) == pytest.approx(radius * 1.1)


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
    assert len(resumed.bank.buffer) == 20 and (resumed.bank.buffer_users == UNKNOWN_USER).all()
    # 12 more complete the buffer of 32 in the next slice: the region forms there.
    resumed.edit(around(axis(8, 7), 3.0, 12, rng), users=np.arange(12))
    assert resumed.close_slice().created == [3]


def test_a_stationary_stream_keeps_the_set_up_geometry() -> None:
    # Set-up's regions, built as Set-up builds them, then three times as many samples
    # from the same mixture, in order: nothing is new, so nothing should change.
    rng = np.random.default_rng(8)
    axes = orthonormal(3, rng)
    bank = RegionBank.build(mixture(axes, SETUP_SAMPLES, rng)[0], 3, quantile=0.9, seed=0)
    built = bank.copy()
    ed = RegionEditor(bank, RegionConfig(regions=3), seed=0)
    x, users = mixture(axes, STREAM_SAMPLES, rng)
    out = ed.edit(x, users=users)
    edits = ed.close_slice()
    assert edits.created == []
    assert (out.op == "add").sum() > RegionConfig().buffer_size  # the tails did fill the buffer, and were let go
    # The radius is still the 0.9 quantile: it neither shrinks (the old EMA of distances) nor grows.
    assert np.all(np.abs(bank.radius / built.radius - 1) < 0.10)
    moved = np.rad2deg(np.arccos(np.clip((bank.centres * built.centres).sum(axis=1), -1, 1)))
    assert np.all(moved < 3.0)
    assert bank.count.sum() + len(bank.buffer) == SETUP_SAMPLES + STREAM_SAMPLES


def test_a_new_cluster_of_many_users_far_from_every_region_is_added() -> None:
    rng = np.random.default_rng(9)
    axes = orthonormal(4, rng)
    bank = RegionBank.build(mixture(axes[:3], SETUP_SAMPLES, rng)[0], 3, quantile=0.9, seed=0)
    built = bank.copy()
    ed = RegionEditor(bank, RegionConfig(regions=3), seed=0)
    old, old_users = mixture(axes[:3], 2000, rng)
    new, new_users = mixture(axes[3:], 600, rng)
    order = rng.permutation(2600)
    ed.edit(np.concatenate([old, new])[order], users=np.concatenate([old_users, new_users + 10_000])[order])
    edits = ed.close_slice()
    assert len(edits.created) == 1
    created = bank.index_of(edits.created[0])
    assert float(bank.centres[created] @ axes[3]) > np.cos(np.deg2rad(5.0))
    assert np.all(np.abs(bank.radius[:3] / built.radius - 1) < 0.10)


def test_add_rejects_a_one_user_cluster_and_accepts_a_many_user_cluster() -> None:
    burst = around(axis(8, 5), 4.0, 32, np.random.default_rng(10))
    lone, crowd = editor(), editor()
    lone.edit(burst, users=np.full(32, 7))
    # Rejected: no region; its samples join their nearest region instead of waiting.
    assert lone.close_slice().created == [] and len(lone.bank) == 3
    assert lone.bank.count.sum() == 600 + 32 and len(lone.bank.buffer) == 0
    crowd.edit(burst, users=np.arange(32) % CONFIG.add_min_users)
    assert crowd.close_slice().created == [3]


def test_a_regions_own_tail_does_not_become_a_region() -> None:
    # Samples just past region 0's radius, all around it, from many users: they are Added
    # (outside), but clustered they are centred on region 0, so they join it.
    ed = editor()
    rng = np.random.default_rng(11)
    radius = float(np.rad2deg(ed.bank.radius[0]))
    tail = around(ed.bank.centres[0].copy(), radius * 1.25, 32, rng)
    out = ed.edit(tail, users=np.arange(32))
    assert (out.op == "add").all()
    edits = ed.close_slice()
    assert edits.created == [] and ed.bank.count[0] == 200 + 32
    # They are members now, beyond the radius: it widens, as the quantile says it must.
    assert np.rad2deg(ed.bank.radius[0]) > radius and 0 in edits.changed


def test_users_must_align_with_the_samples() -> None:
    ed = editor()
    x = around(axis(8, 0), 3.0, 4, np.random.default_rng(12))
    with pytest.raises(ValueError, match="aligned"):
        ed.edit(x, users=np.arange(3))
    with pytest.raises(ValueError, match="non-negative"):
        ed.edit(x, users=np.array([0, 1, -1, 2]))
