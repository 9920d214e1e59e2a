"""Synthetic Yelp generator: exact layout, determinism, drift and protocol-friendly size."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from raie.data.dataset import Dataset
from raie.data.synthetic import Behaviour, SyntheticConfig, SyntheticSummary, write_synthetic_yelp
from raie.data.yelp import BUSINESS_FILE, REVIEW_FILE, load_yelp
from raie.errors import ConfigError

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
