"""Synthetic Yelp generator (both scenarios): exact layout, determinism, drift, size; and region recovery's ARI."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from raie.cli.main import main
from raie.config import PreprocessConfig, ProtocolConfig
from raie.data.dataset import Dataset
from raie.data.synthetic import Behaviour, SyntheticConfig, SyntheticSummary, write_synthetic_yelp
from raie.data.synthetic_groups import GROUPS_FILE, GroupKind, GroupTruth, read_groups
from raie.data.synthetic_local import LocalDriftConfig, LocalDriftSummary, write_local_drift_yelp
from raie.data.yelp import BUSINESS_FILE, REVIEW_FILE, load_yelp
from raie.errors import ConfigError, DataError
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import preprocess
from raie.regions.recovery import adjusted_rand_index, score_regions, window_groups

pytestmark = pytest.mark.unit

REVIEW_FIELDS = [
    "review_id",
    "user_id",
    "business_id",
    "stars",
    "useful",
    "funny",
    "cool",
    "text",
    "date",
]
BUSINESS_FIELDS = [
    "business_id", "name", "address", "city", "state", "postal_code", "latitude", "longitude",
    "stars", "review_count", "is_open", "attributes", "categories", "hours",
]  # fmt: skip
SMALL = SyntheticConfig(n_users=20, businesses_per_group=30, new_group_businesses=10, reviews_per_user=(10, 20))


@dataclass(frozen=True)
class Generated:
    folder: Path
    summary: SyntheticSummary
    data: Dataset


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    folder = tmp_path_factory.mktemp("synthetic")
    summary = write_synthetic_yelp(folder, SyntheticConfig())
    return Generated(folder, summary, load_yelp(folder))


def _records(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_synthetic_yelp(first, SMALL)
    write_synthetic_yelp(second, SMALL)
    write_synthetic_yelp(other, replace(SMALL, seed=1))
    for name in (REVIEW_FILE, BUSINESS_FILE):
        assert (first / name).read_bytes() == (second / name).read_bytes()
        assert (first / name).read_bytes() != (other / name).read_bytes()


def test_official_layout_with_nested_and_null_fields(generated: Generated) -> None:
    reviews = _records(generated.folder / REVIEW_FILE)
    businesses = _records(generated.folder / BUSINESS_FILE)
    assert all(list(r) == REVIEW_FIELDS for r in reviews)
    assert all(list(b) == BUSINESS_FIELDS for b in businesses)
    assert all(isinstance(r["stars"], float) for r in reviews)
    datetime.strptime(reviews[0]["date"], "%Y-%m-%d %H:%M:%S")
    assert any(isinstance(b["attributes"], dict) for b in businesses)
    assert any(b["attributes"] is None for b in businesses)
    assert any(isinstance(b["hours"], dict) for b in businesses)
    null_categories = {b["business_id"] for b in businesses if b["categories"] is None}
    assert null_categories
    loaded = {r["item_id"]: r["categories"] for r in generated.data.items.to_pylist()}
    assert all(loaded[b] == [] for b in null_categories)
    summary = generated.summary
    assert (summary.n_reviews, summary.n_businesses) == (len(reviews), len(businesses))
    assert generated.data.interactions.num_rows == summary.n_reviews


def _dominant_groups(generated: Generated) -> dict[str, tuple[int, int]]:
    """user -> (dominant group of the first third, of the last third) of their reviews."""
    timeline: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for row in generated.data.interactions.to_pylist():
        timeline[row["user_id"]].append((row["ts"], generated.summary.business_group[row["item_id"]]))
    result = {}
    for user, events in timeline.items():
        events.sort()
        third = len(events) // 3
        first = Counter(g for _, g in events[:third]).most_common(1)[0][0]
        last = Counter(g for _, g in events[-third:]).most_common(1)[0][0]
        result[user] = (first, last)
    return result


def test_drift_is_visible(generated: Generated) -> None:
    dominant = _dominant_groups(generated)
    summary = generated.summary
    abrupt = [u for u, b in summary.behaviours.items() if b is Behaviour.ABRUPT]
    steady = [u for u, b in summary.behaviours.items() if b is Behaviour.STABLE and u not in summary.adopters]
    assert abrupt and steady
    assert np.mean([dominant[u][0] != dominant[u][1] for u in abrupt]) > 0.9
    assert np.mean([dominant[u][0] == dominant[u][1] for u in steady]) > 0.9
    assert set(summary.switch_at) == set(abrupt)


def test_new_group_appears_mid_timeline(generated: Generated) -> None:
    config = SyntheticConfig()
    new_group = len(config.category_groups)
    opening = config.start + (config.end - config.start) * config.new_group_start
    new_reviews = [
        r for r in generated.data.interactions.to_pylist()
        if generated.summary.business_group[r["item_id"]] == new_group
    ]  # fmt: skip
    assert new_reviews
    assert min(r["ts"].date() for r in new_reviews) >= opening
    assert {r["user_id"] for r in new_reviews} <= generated.summary.adopters


def test_survives_ten_core_and_quantile_split(generated: Generated) -> None:
    latest: dict[tuple[str, str], float] = {}
    for row in generated.data.interactions.to_pylist():
        if row["rating"] >= 4:
            key = (row["user_id"], row["item_id"])
            latest[key] = max(latest.get(key, 0.0), row["ts"].timestamp())
    while True:  # 10-core on positives, as the protocol does
        users = Counter(u for u, _ in latest)
        items = Counter(i for _, i in latest)
        kept = {k: t for k, t in latest.items() if users[k[0]] >= 10 and items[k[1]] >= 10}
        if len(kept) == len(latest):
            break
        latest = kept
    assert len({u for u, _ in latest}) >= 250
    cuts = np.quantile(list(latest.values()), [0.5, 0.8])
    per_block: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (user, _), ts in latest.items():
        per_block[user][int(np.searchsorted(cuts, ts, side="right"))] += 1
    enough = [all(n >= 11 for n in blocks) for blocks in per_block.values()]
    assert sum(enough) >= 0.6 * len(per_block)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"n_users": 0}, "n_users"),
        ({"reviews_per_user": (10, 5)}, "reviews_per_user"),
        ({"stable_fraction": 0.5}, "stable_fraction"),
        ({"adopter_share": 1.5}, "adopter_share"),
        ({"new_group_start": 1.0}, "new_group_start"),
        ({"category_groups": (("A",),)}, "category_groups"),
        ({"category_groups": (("A", "B"), ("B",))}, "category_groups"),
        ({"start": date(2020, 1, 1), "end": date(2019, 1, 1)}, "start"),
        ({"seed": -1}, "seed"),
    ],
)
def test_config_validation_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=f"config field '{field}'"):
        SyntheticConfig(**changes)


# --- scenario local-drift: stable, shifting and new interest groups ---------------------------

SMALL_LOCAL = LocalDriftConfig(users_per_group=20, businesses_per_subset=30, reviews_per_user=(20, 30))
YELP_PREPROCESS = PreprocessConfig(min_rating=4.0, dedupe=True, k_core=10)
YELP_PROTOCOL = ProtocolConfig(cutoffs=(0.5, 0.8), context_len=10, train_stride=1, holdout_targets=1)
"""The Yelp preset's positives, 10-core, blocks and windows (raie/presets/yelp.yaml)."""


@dataclass(frozen=True)
class LocalGenerated:
    folder: Path
    summary: LocalDriftSummary
    data: Dataset
    protocol: ProtocolData
    rows: list[dict[str, Any]]
    """The loaded interactions as Python rows (converted once: 260k of them)."""


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> LocalGenerated:
    """The default local-drift scenario, as ``raie data synth`` writes it (a few seconds)."""
    folder = tmp_path_factory.mktemp("local_drift")
    summary = write_local_drift_yelp(folder, LocalDriftConfig())
    data = load_yelp(folder)
    protocol = build_protocol(preprocess(data.interactions, YELP_PREPROCESS), YELP_PROTOCOL, data.items)
    return LocalGenerated(folder, summary, data, protocol, data.interactions.to_pylist())


def _groups_of_kind(truth: GroupTruth, kind: GroupKind) -> list[int]:
    return [g.group for g in truth.groups if g.kind is kind]


def test_local_drift_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_local_drift_yelp(first, SMALL_LOCAL)
    write_local_drift_yelp(second, SMALL_LOCAL)
    write_local_drift_yelp(other, replace(SMALL_LOCAL, seed=1))
    for name in (REVIEW_FILE, BUSINESS_FILE, GROUPS_FILE):
        assert (first / name).read_bytes() == (second / name).read_bytes()
        assert (first / name).read_bytes() != (other / name).read_bytes()


def test_local_drift_truth_covers_every_user_and_business(local: LocalGenerated) -> None:
    truth = read_groups(local.folder)
    assert truth == local.summary.truth
    kinds = [g.kind for g in truth.groups]
    assert kinds == [GroupKind.STABLE] * 3 + [GroupKind.SHIFTING] * 2 + [GroupKind.NEW] * 2
    assert set(truth.user_group) == {r["user_id"] for r in local.rows}
    businesses = _records(local.folder / BUSINESS_FILE)
    assert set(truth.business_group) == {b["business_id"] for b in businesses}
    for b in businesses:  # each business carries its own subset's categories
        info = truth.groups[truth.business_group[b["business_id"]]]
        expected = info.subsets[truth.business_subset[b["business_id"]]]
        assert b["categories"] is None or tuple(b["categories"].split(", ")) == expected
    assert set(truth.user_switch) == {u for u, g in truth.user_group.items() if truth.kind_of(g) is GroupKind.SHIFTING}


def test_every_group_has_thousands_of_windows_in_its_blocks(local: LocalGenerated) -> None:
    truth, data = local.summary.truth, local.protocol
    new = _groups_of_kind(truth, GroupKind.NEW)
    for block in data.blocks:
        counts = np.bincount(
            window_groups(block.train.user, data.positives.user_ids, truth.user_group), minlength=len(truth.groups)
        )
        for group, count in enumerate(counts):
            if block.name == "S" and group in new:
                assert count == 0  # new groups do not exist yet in Set-up
            else:
                assert count >= 2000, (block.name, group, count)


def test_new_groups_items_never_appear_before_they_open(local: LocalGenerated) -> None:
    truth = local.summary.truth
    rows = local.rows
    for group in _groups_of_kind(truth, GroupKind.NEW):
        opens = truth.groups[group].opens
        assert opens is not None
        on_its_items = [r["ts"] for r in rows if truth.business_group[r["item_id"]] == group]
        by_its_users = [r["ts"] for r in rows if truth.user_group[r["user_id"]] == group]
        assert on_its_items and by_its_users
        assert min(on_its_items) >= opens and min(by_its_users) >= opens
    openings = [info.opens for info in truth.groups if info.opens is not None]
    assert len(openings) == 2 and openings[0] < openings[1]  # one group after the other


def _own_positives(local: LocalGenerated, group: int) -> list[tuple[datetime, str]]:
    """(time, business) of the positives that the group's users gave its own businesses."""
    truth = local.summary.truth
    return [
        (r["ts"], r["item_id"])
        for r in local.rows
        if r["rating"] >= 4 and truth.user_group[r["user_id"]] == group and truth.business_group[r["item_id"]] == group
    ]


def _total_variation(first: list[str], second: list[str]) -> float:
    a, b = Counter(first), Counter(second)
    return 0.5 * sum(abs(a[k] / len(first) - b[k] / len(second)) for k in a.keys() | b.keys())


def test_stable_groups_keep_their_items_and_shifting_groups_move(local: LocalGenerated) -> None:
    truth, config = local.summary.truth, LocalDriftConfig()
    start, end = (datetime.combine(d, datetime.min.time(), UTC) for d in (config.start, config.end))
    middle = start + (end - start) / 2
    for group in _groups_of_kind(truth, GroupKind.STABLE):
        events = _own_positives(local, group)
        early = [b for t, b in events if t < middle]
        late = [b for t, b in events if t >= middle]
        assert _total_variation(early, late) < 0.1  # sampling noise only
    before = start + (end - start) * (config.shift_at - config.shift_width / 2)
    after = start + (end - start) * (config.shift_at + config.shift_width / 2)
    for group in _groups_of_kind(truth, GroupKind.SHIFTING):
        events = _own_positives(local, group)
        moved = [truth.business_subset[b] == 1 for t, b in events if t < before]
        assert np.mean(moved) < 0.15  # only the leak reaches the second subset before the shift
        moved = [truth.business_subset[b] == 1 for t, b in events if t >= after]
        assert np.mean(moved) > 0.85
        first = [b for t, b in events if t < before]
        last = [b for t, b in events if t >= after]
        assert _total_variation(first, last) > 0.7  # most of the mass moved to other businesses
        switches = [s for u, s in truth.user_switch.items() if truth.user_group[u] == group]
        assert before <= min(switches) and max(switches) <= after


def test_sparse_most_users_have_under_ten_positives_per_block(tmp_path: Path) -> None:
    summary = write_local_drift_yelp(tmp_path, LocalDriftConfig(sparse=True, users_per_group=600))
    data = load_yelp(tmp_path)
    protocol = build_protocol(preprocess(data.interactions, YELP_PREPROCESS), YELP_PROTOCOL)
    positives = protocol.positives
    per_block = np.stack(
        [np.bincount(positives.user[protocol.block_of_row == b], minlength=positives.n_users) for b in range(3)]
    )
    assert (per_block < 10).mean() > 0.6  # of (kept user, block) pairs
    assert (per_block[1:] < 10).mean(axis=1).min() > 0.6  # F and T
    assert len(protocol.block("F").train) > 0  # the heavy tail still makes windows
    assert summary.n_reviews / summary.n_users < 30  # the dense default writes about 120 per user


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stable_groups": 1, "shifting_groups": 0}, "stable_groups"),
        ({"stable_groups": 10, "shifting_groups": 4}, "stable_groups"),
        ({"users_per_group": 0}, "users_per_group"),
        ({"reviews_per_user": (10, 5)}, "reviews_per_user"),
        ({"shift_at": 0.97}, "shift_at"),
        ({"shift_leak": 1.5}, "shift_leak"),
        ({"new_group_start": 0.9}, "new_group_start"),
        ({"seed": -1}, "seed"),
    ],
)
def test_local_drift_config_validation_names_the_field(changes: dict[str, Any], field: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"config field '{field}'"):
        write_local_drift_yelp(tmp_path, LocalDriftConfig(**changes))


def test_data_synth_defaults_to_local_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "synth", "--out", str(tmp_path / "local"), "--users", "15", "--new-groups", "1"]) == 0
    assert "local-drift" in capsys.readouterr().out
    truth = read_groups(tmp_path / "local")
    assert len(truth.groups) == 6 and len(truth.user_group) == 6 * 15
    assert main(["data", "synth", "--out", str(tmp_path / "user"), "--scenario", "user-drift", "--users", "15"]) == 0
    assert (tmp_path / "user" / REVIEW_FILE).is_file() and not (tmp_path / "user" / GROUPS_FILE).exists()
    assert main(["data", "synth", "--out", str(tmp_path / "bad"), "--scenario", "user-drift", "--sparse"]) == 2
    assert "use it with --scenario local-drift" in capsys.readouterr().err


def test_read_groups_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"groups\.jsonl: file not found"):
        read_groups(tmp_path)


# --- region recovery: the adjusted Rand index ----------------------------------------------------


def test_ari_of_identical_and_relabelled_partitions_is_one() -> None:
    labels = np.random.default_rng(0).integers(0, 5, 500)
    assert adjusted_rand_index(labels, labels) == pytest.approx(1.0)
    relabelled = np.array(["e", "c", "a", "d", "b"])[labels]  # any names, any order
    assert adjusted_rand_index(labels, relabelled) == pytest.approx(1.0)


def test_ari_of_independent_partitions_is_about_zero() -> None:
    rng = np.random.default_rng(1)
    values = [adjusted_rand_index(rng.integers(0, 7, 20000), rng.integers(0, 5, 20000)) for _ in range(5)]
    assert max(abs(v) for v in values) < 0.005


def test_ari_known_values() -> None:
    # Hand-counted: scikit-learn's documented examples give the same numbers.
    assert adjusted_rand_index([0, 0, 1, 2], [0, 0, 1, 1]) == pytest.approx(4 / 7)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 1]) == pytest.approx(1.0)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert adjusted_rand_index([0, 0, 0, 0], [0, 1, 2, 3]) == pytest.approx(0.0)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == adjusted_rand_index([0, 0, 1, 2], [0, 0, 1, 1])
    assert adjusted_rand_index([3, 3, 3], [1, 1, 1]) == 1.0  # nothing to disagree on
    with pytest.raises(ValueError, match="one length"):
        adjusted_rand_index([0, 1], [0, 1, 2])


def test_score_regions_uses_the_windows_users_groups() -> None:
    user_ids = ["u0", "u1", "u2", "u3"]
    user_group = {"u0": 0, "u1": 0, "u2": 1, "u3": 2}
    window_user = np.array([0, 1, 1, 2, 3, 3])
    perfect = score_regions([7, 7, 7, 4, 9, 9], window_user, user_ids, user_group)
    assert (perfect.ari, perfect.regions, perfect.groups, perfect.windows) == (1.0, 3, 3, 6)
    assert perfect.table.tolist() == [[0, 3, 0], [1, 0, 0], [0, 0, 2]]  # groups x regions 4, 7, 9
    merged = score_regions([7, 7, 7, 7, 9, 9], window_user, user_ids, user_group)
    assert 0.0 < merged.ari < 1.0
    with pytest.raises(DataError, match="has no true group"):
        score_regions([0], [0], ["stranger"], user_group)
