"""Region bank: built radii, vectorised routing, confidences, snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from raie.errors import DataError
from raie.regions.bank import META_FILE, TENSORS_FILE, UNKNOWN_USER, RegionBank
from raie.regions.geometry import angular_distance
from raie.regions.routing import route
from tests.unit.regions_data import around, axis, three_clusters

pytestmark = pytest.mark.unit


@pytest.fixture
def bank() -> RegionBank:
    return RegionBank.build(three_clusters(np.random.default_rng(0)), 3, quantile=0.9, seed=0)


def test_build_gives_unit_centres_quantile_radii_and_counts(bank: RegionBank) -> None:
    x = three_clusters(np.random.default_rng(0))
    labels = (x @ bank.centres.T).argmax(axis=1)
    for j in range(3):
        members = angular_distance(x[labels == j], bank.centres[j : j + 1])[:, 0]
        assert bank.radius[j] == pytest.approx(np.quantile(members, 0.9))
    assert bank.count.tolist() == [200, 200, 200]
    assert bank.ids.tolist() == [0, 1, 2]
    assert bank.version.tolist() == [0, 0, 0]
    # The clusters spread up to 40 degrees around their axes.
    assert np.all(np.rad2deg(bank.radius) < 45)


def test_radius_rule_separates_inside_boundary_and_outside(bank: RegionBank) -> None:
    rng = np.random.default_rng(1)
    home = bank.centres[0]
    inside = around(home, 2.0, 50, rng)
    boundary = around(home, float(np.rad2deg(bank.radius[0])), 50, rng)
    outside = around(axis(8, 5), 5.0, 50, rng)
    routes = [bank.route(x, rule="radius", temperature=0.1) for x in (inside, boundary, outside)]
    assert np.all(routes[0].p1 > 0.9) and np.all(routes[0].top == 0)
    # On its region's boundary a point is as likely in as out: p1 ~ p2.
    assert np.all(np.abs(routes[1].delta) < 0.2)
    assert np.all(routes[2].p1 < 0.05)


def test_softmax_rule_is_the_plain_similarity_softmax(bank: RegionBank) -> None:
    x = around(axis(8, 1), 10.0, 20, np.random.default_rng(2))
    routes = bank.route(x, rule="softmax", temperature=0.5)
    logits = x @ bank.centres.T / 0.5
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(routes.confidence, expected, atol=1e-6)
    assert np.allclose(routes.p2, np.sort(expected, axis=1)[:, -2], atol=1e-6)


def test_routing_a_batch_equals_routing_one_at_a_time(bank: RegionBank) -> None:
    x = np.random.default_rng(3).normal(size=(64, 8)).astype(np.float32)
    batch = bank.route(x, rule="radius", temperature=0.1)
    for i in (0, 17, 63):
        single = bank.route(x[i : i + 1], rule="radius", temperature=0.1)
        assert single.top[0] == batch.top[i]
        # float32: BLAS may sum a batch and a single row in different orders (seen: 2e-6 relative).
        assert single.p1[0] == pytest.approx(batch.p1[i], rel=1e-5)


def test_single_region_bank_routes_against_outside() -> None:
    bank = RegionBank.build(around(axis(4, 0), 10.0, 30, np.random.default_rng(0)), 1, quantile=0.9, seed=0)
    routes = route(axis(4, 0)[None, :], bank.centres, bank.radius, "radius", 0.1)
    assert routes.top.tolist() == [0]
    assert routes.p1[0] + routes.p2[0] == pytest.approx(1.0)


def test_snapshot_round_trip_keeps_every_field(bank: RegionBank, tmp_path: Path) -> None:
    bank.add_region(axis(8, 6), 0.3, 40)
    bank.buffer = np.ones((3, 8), dtype=np.float32)
    bank.buffer_users = np.array([5, UNKNOWN_USER, 9])
    bank.version[1] = 4
    bank.count[0] = 12_345  # the member count weighs every later edit: it must survive
    bank.save(tmp_path / "snap")
    restored = RegionBank.load(tmp_path / "snap")
    for copy in (restored, bank.copy()):
        for name in ("centres", "radius", "count", "version", "ids", "buffer", "buffer_users"):
            assert np.array_equal(getattr(copy, name), getattr(bank, name)), name
    assert restored.next_id == bank.next_id == 4
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == ["regions.json", "regions.safetensors"]


def test_a_snapshot_from_before_buffered_users_loads_them_as_unknown(bank: RegionBank, tmp_path: Path) -> None:
    bank.buffer = np.ones((2, 8), dtype=np.float32)
    bank.save(tmp_path)
    arrays = load_file(str(tmp_path / TENSORS_FILE))
    del arrays["buffer_users"]
    save_file(arrays, str(tmp_path / TENSORS_FILE))
    assert RegionBank.load(tmp_path).buffer_users.tolist() == [UNKNOWN_USER, UNKNOWN_USER]


def test_buffered_users_must_match_the_buffer(bank: RegionBank) -> None:
    with pytest.raises(ValueError, match="buffered users"):
        RegionBank(bank.centres, bank.radius, bank.count, bank.version, bank.ids, 3, bank.buffer[:0], np.arange(2))


def test_loading_a_broken_snapshot_names_the_file(bank: RegionBank, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="region snapshot file is missing"):
        RegionBank.load(tmp_path)
    bank.save(tmp_path)
    (tmp_path / META_FILE).write_text('{"format": 99}')
    with pytest.raises(DataError, match="format"):
        RegionBank.load(tmp_path)


def test_region_ids_are_never_reused(bank: RegionBank) -> None:
    first = bank.add_region(axis(8, 4), 0.2, 10)
    second = bank.add_region(axis(8, 5), 0.2, 10)
    assert (first, second) == (3, 4)
    assert bank.index_of(4) == 4
    with pytest.raises(KeyError):
        bank.index_of(99)
