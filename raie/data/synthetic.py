"""Synthetic Yelp Open Dataset, scenario ``user-drift``: each user's own preference drifts.

Written in the exact official layout (:mod:`raie.data.synthetic_files`), so the
real loader is what reads it. Businesses belong to category groups; users
prefer one group at a time and give high stars mostly to businesses of their
current group, so positives (stars >= 4) carry the preference signal.

* stable users keep one group;
* gradual users move from group A to B with a probability rising linearly
  over their own timeline;
* abrupt users switch from A to B at a random point of their timeline;
* a new interest group (new categories) appears mid-timeline; adopters then
  spend part of their reviews on it.

The small default (300 users) is what the tests' fixtures use. ``raie data
synth`` writes the ``local-drift`` scenario by default
(:mod:`raie.data.synthetic_local`); :mod:`raie.data.synthetic_scenarios` names both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from raie.data.synthetic_files import BusinessNulls, IntArray, Reviews, write_businesses, write_reviews, yelp_ids
from raie.data.yelp import BUSINESS_FILE, REVIEW_FILE
from raie.errors import ConfigError

DEFAULT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Restaurants", "Italian", "Pizza"),
    ("Nightlife", "Bars", "Cocktail Bars"),
    ("Beauty & Spas", "Nail Salons", "Hair Salons"),
    ("Active Life", "Fitness & Instruction", "Yoga"),
)
"""Four disjoint interest groups, named like real Yelp categories."""

ABRUPT_WINDOW = (0.25, 0.75)
"""Abrupt users switch inside this part of their timeline, so both sides hold enough reviews."""

SPAN_JITTER = 0.05
"""Users start and stop within this fraction of the ends of the timeline, so every
user has reviews in each block of a 0.5/0.8 quantile split."""

POPULARITY_OFFSET = 20.0
"""Popularity within a group is 1/(rank + offset): a mild skew like real data that
still leaves the least popular business enough positives for a 10-core filter."""

HIGH_STARS_IN_GROUP, HIGH_STARS_OFF_GROUP = 0.9, 0.1
"""Chance of 4-5 stars for a business in / outside the user's current group."""


class Behaviour(StrEnum):
    """Ground-truth drift label of one synthetic user."""

    STABLE = "stable"
    GRADUAL = "gradual"
    ABRUPT = "abrupt"


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate; the defaults give about 300 users and 25k reviews in well under 2 s."""

    n_users: int = 300
    """Number of users."""
    businesses_per_group: int = 120
    """Businesses in each of ``category_groups``."""
    new_group_businesses: int = 50
    """Businesses in the new interest group that appears mid-timeline."""
    reviews_per_user: tuple[int, int] = (70, 100)
    """Inclusive range of reviews per user; large enough that a 0.5/0.8 time split leaves
    most users more than 10 positives in each block."""
    category_groups: tuple[tuple[str, ...], ...] = DEFAULT_GROUPS
    """Categories of each existing interest group (at least two groups, names disjoint)."""
    new_group_categories: tuple[str, ...] = ("Food Trucks", "Vegan", "Bubble Tea")
    """Categories of the interest group that appears at ``new_group_start``."""
    stable_fraction: float = 0.4
    """Share of users who keep one group; the three fractions sum to 1."""
    gradual_fraction: float = 0.3
    """Share of users who drift from group A to B gradually."""
    abrupt_fraction: float = 0.3
    """Share of users who switch from group A to B at one moment."""
    new_group_start: float = 0.6
    """Point of the timeline (0..1) where the new group's businesses open."""
    adopter_fraction: float = 0.3
    """Share of users (any behaviour) who take up the new group after it opens."""
    adopter_share: float = 0.6
    """Share of an adopter's reviews that go to the new group once adopted."""
    in_group_probability: float = 0.85
    """Chance that a review is for a business of the user's current group."""
    null_attributes_fraction: float = 0.2
    """Share of businesses whose ``attributes`` (and ``hours``) are null, as in real data."""
    null_categories_fraction: float = 0.05
    """Share of businesses whose ``categories`` is null, as in real data."""
    start: date = date(2016, 1, 1)
    """First day of the timeline."""
    end: date = date(2021, 12, 31)
    """Last day of the timeline."""
    seed: int = 0
    """Seed of the numpy Generator; same seed and config give byte-identical files."""

    def __post_init__(self) -> None:
        low, high = self.reviews_per_user
        groups = (*self.category_groups, self.new_group_categories)
        names = [c for g in groups for c in g]
        rules: list[tuple[str, bool, str]] = [
            ("n_users", self.n_users >= 1, "use 1 or more"),
            ("businesses_per_group", self.businesses_per_group >= 1, "use 1 or more"),
            ("new_group_businesses", self.new_group_businesses >= 1, "use 1 or more"),
            ("reviews_per_user", 1 <= low <= high, "use (min, max) with 1 <= min <= max"),
            *((name, 0.0 <= getattr(self, name) <= 1.0, "use a value in [0, 1]") for name in _UNIT_FIELDS),
            (
                "stable_fraction",
                abs(self.stable_fraction + self.gradual_fraction + self.abrupt_fraction - 1.0) < 1e-9,
                "make stable, gradual and abrupt fractions sum to 1",
            ),
            ("new_group_start", 0.0 < self.new_group_start < 1.0, "use a point strictly inside (0, 1)"),
            ("category_groups", len(self.category_groups) >= 2, "give at least two groups so users can drift"),
            (
                "category_groups",
                all(groups) and len(set(names)) == len(names) and all(n and "," not in n for n in names),
                "give every group distinct, non-empty category names without commas",
            ),
            ("start", self.start < self.end, "make start earlier than end"),
            ("seed", self.seed >= 0, "use a seed >= 0"),
        ]
        for name, ok, fix in rules:
            if not ok:
                raise ConfigError(name, f"{getattr(self, name)!r} is not allowed", fix)


_UNIT_FIELDS = (
    "stable_fraction",
    "gradual_fraction",
    "abrupt_fraction",
    "adopter_fraction",
    "adopter_share",
    "in_group_probability",
    "null_attributes_fraction",
    "null_categories_fraction",
)


@dataclass(frozen=True)
class SyntheticSummary:
    """Counts and ground truth of one generated data set."""

    n_users: int
    n_businesses: int
    n_reviews: int
    n_positive_reviews: int
    behaviours: Mapping[str, Behaviour]
    """user_id -> drift label."""
    adopters: frozenset[str]
    """Users who took up the new interest group."""
    business_group: Mapping[str, int]
    """business_id -> group index; ``len(category_groups)`` is the new group."""
    switch_at: Mapping[str, datetime] = field(default_factory=dict)
    """Abrupt users -> the moment they switched groups."""


@dataclass(frozen=True)
class _Catalogue:
    """Businesses as index ranges per group, with their popularity weights."""

    sizes: list[int]
    first: IntArray
    weights: list[npt.NDArray[np.floating[Any]]]


def write_synthetic_yelp(out_dir: Path, config: SyntheticConfig) -> SyntheticSummary:
    """Write both Yelp files into ``out_dir`` (created if needed) and return the ground truth."""
    rng = np.random.default_rng(config.seed)
    sizes = [config.businesses_per_group] * len(config.category_groups) + [config.new_group_businesses]
    catalogue = _Catalogue(
        sizes, np.concatenate([[0], np.cumsum(sizes)]), [1.0 / (np.arange(s) + POPULARITY_OFFSET) for s in sizes]
    )
    group_of = np.repeat(np.arange(len(sizes)), sizes)
    business_ids = yelp_ids(rng, len(group_of))
    behaviours = _assign_behaviours(rng, config)
    user_ids = yelp_ids(rng, config.n_users)
    t0, t1 = (int(datetime.combine(d, datetime.min.time(), UTC).timestamp()) for d in (config.start, config.end))
    parts: list[Reviews] = []
    switch_at: dict[str, datetime] = {}
    adopters: set[str] = set()
    for u, behaviour in enumerate(behaviours):
        part, switch, adopted = _simulate_user(rng, config, catalogue, behaviour, u, (t0, t1))
        parts.append(part)
        if behaviour is Behaviour.ABRUPT:
            switch_at[user_ids[u]] = datetime.fromtimestamp(t0 + int(switch * (t1 - t0)), UTC)
        if adopted:
            adopters.add(user_ids[u])
    order = rng.permutation(sum(len(p.item) for p in parts))  # real files are not sorted by user
    reviews = Reviews.concat(parts, order)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups = (*config.category_groups, config.new_group_categories)
    categories = [groups[g] for g in group_of]
    nulls = BusinessNulls(config.null_attributes_fraction, config.null_categories_fraction)
    write_businesses(out / BUSINESS_FILE, rng, business_ids, categories, nulls, reviews)
    write_reviews(out / REVIEW_FILE, rng, user_ids, business_ids, reviews)
    return SyntheticSummary(
        n_users=config.n_users,
        n_businesses=len(business_ids),
        n_reviews=len(order),
        n_positive_reviews=int((reviews.stars >= 4).sum()),
        behaviours=dict(zip(user_ids, behaviours, strict=True)),
        adopters=frozenset(adopters),
        business_group={bid: int(g) for bid, g in zip(business_ids, group_of, strict=True)},
        switch_at=switch_at,
    )


def _simulate_user(
    rng: np.random.Generator,
    config: SyntheticConfig,
    catalogue: _Catalogue,
    behaviour: Behaviour,
    user: int,
    span: tuple[int, int],
) -> tuple[Reviews, float, bool]:
    """One user's reviews, their switch point (fraction of the timeline), and whether they adopted."""
    n_old = len(config.category_groups)  # the new group has index n_old
    n = int(rng.integers(config.reviews_per_user[0], config.reviews_per_user[1] + 1))
    a = int(rng.integers(n_old))
    b = a if behaviour is Behaviour.STABLE else (a + int(rng.integers(1, n_old))) % n_old
    lo, hi = rng.uniform(0, SPAN_JITTER), rng.uniform(1 - SPAN_JITTER, 1)
    t = np.sort(rng.uniform(lo, hi, n))  # position of each review on the global timeline
    rel = (t - lo) / (hi - lo)  # ... and on the user's own timeline
    switch = rng.uniform(*ABRUPT_WINDOW)
    if behaviour is Behaviour.GRADUAL:
        current = np.where(rng.random(n) < rel, b, a)
    elif behaviour is Behaviour.ABRUPT:
        current = np.where(rel >= switch, b, a)
    else:
        current = np.full(n, a)
    adopt_at = rng.uniform(config.new_group_start, (1 + config.new_group_start) / 2)
    adopted = bool(rng.random() < config.adopter_fraction)
    if adopted:
        current = np.where((t >= adopt_at) & (rng.random(n) < config.adopter_share), n_old, current)
    off = (current + rng.integers(1, n_old, n)) % n_old  # some other existing group
    off = np.where(current == n_old, rng.integers(0, n_old, n), off)
    in_group = rng.random(n) < config.in_group_probability
    chosen = np.where(in_group, current, off)
    picks = np.empty(n, dtype=np.int64)
    for g in np.unique(chosen):  # distinct businesses per group unless the group is too small
        slots = np.flatnonzero(chosen == g)
        size, weights = catalogue.sizes[g], catalogue.weights[g]
        local = rng.choice(size, len(slots), replace=len(slots) > size, p=weights / weights.sum())
        picks[slots] = catalogue.first[g] + local
    high = rng.random(n) < np.where(in_group, HIGH_STARS_IN_GROUP, HIGH_STARS_OFF_GROUP)
    stars = np.where(high, rng.integers(4, 6, n), rng.integers(1, 4, n))
    ts = span[0] + (t * (span[1] - span[0])).astype(np.int64)
    return Reviews(np.full(n, user), picks, stars, ts), lo + switch * (hi - lo), adopted


def _assign_behaviours(rng: np.random.Generator, config: SyntheticConfig) -> list[Behaviour]:
    gradual = round(config.gradual_fraction * config.n_users)
    abrupt = min(round(config.abrupt_fraction * config.n_users), config.n_users - gradual)
    labels = [Behaviour.GRADUAL] * gradual + [Behaviour.ABRUPT] * abrupt
    labels += [Behaviour.STABLE] * (config.n_users - len(labels))
    return [labels[i] for i in rng.permutation(config.n_users)]
