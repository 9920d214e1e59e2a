"""The groups and businesses of the ``local-drift`` scenario, before anyone reviews anything.

Groups are numbered stable first, then shifting, then new. Each group owns one
business subset (a shifting group two: before and after its move); subsets take
their categories, in order, from :data:`CATEGORY_POOL`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from raie.data.synthetic_files import IntArray
from raie.data.synthetic_groups import GroupKind

CATEGORY_POOL: tuple[tuple[str, ...], ...] = (
    ("Restaurants", "Italian", "Pizza"),
    ("Nightlife", "Bars", "Cocktail Bars"),
    ("Beauty & Spas", "Nail Salons", "Hair Salons"),
    ("Coffee & Tea", "Cafes", "Bakeries"),
    ("Bubble Tea", "Juice Bars & Smoothies", "Desserts"),
    ("Active Life", "Gyms", "Martial Arts"),
    ("Fitness & Instruction", "Yoga", "Pilates"),
    ("Food Trucks", "Vegan", "Poke"),
    ("Escape Games", "Virtual Reality Centers", "Axe Throwing"),
    ("Automotive", "Auto Repair", "Car Wash"),
    ("Pets", "Pet Groomers", "Veterinarians"),
    ("Shopping", "Bookstores", "Thrift Stores"),
    ("Arts & Entertainment", "Museums", "Music Venues"),
    ("Hotels & Travel", "Hotels", "Tours"),
    ("Health & Medical", "Dentists", "Chiropractors"),
    ("Home Services", "Contractors", "Plumbing"),
)
"""Disjoint categories named like real Yelp ones, taken in order: with the default 3 stable,
2 shifting and 2 new groups, the shifting groups move Coffee -> Bubble Tea and Gyms -> Yoga."""

POPULARITY_OFFSET = 20.0
"""Popularity within a subset is 1/(rank + offset): a mild skew like real data that
still leaves the least popular business enough positives for a 10-core filter."""

FloatArray = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Group:
    index: int
    kind: GroupKind
    subsets: tuple[int, ...]
    """Indices into the catalogue's subsets; a shifting group's second one is where it moves to."""
    opens: float
    """Point of the timeline (0..1) where the group's businesses open; 0 for groups there from the start."""


@dataclass(frozen=True)
class Catalogue:
    """Businesses as consecutive index ranges, one range per subset."""

    categories: tuple[tuple[str, ...], ...]  # per subset
    first: IntArray  # [n_subsets + 1]: subset s is businesses first[s] .. first[s + 1] - 1
    group: IntArray  # [n_subsets]: owning group
    rank: IntArray  # [n_subsets]: index of the subset within its group
    opens: FloatArray  # [n_subsets]: point of the timeline where it opens
    weights: FloatArray  # [max size]: popularity by rank within a subset, unnormalised

    @property
    def n_businesses(self) -> int:
        return int(self.first[-1])

    def _per_business(self, values: IntArray) -> IntArray:
        return np.repeat(values, np.diff(self.first))

    def group_of_business(self) -> IntArray:
        return self._per_business(self.group)

    def rank_of_business(self) -> IntArray:
        return self._per_business(self.rank)

    def categories_of_businesses(self) -> list[tuple[str, ...]]:
        return [self.categories[s] for s in self._per_business(np.arange(len(self.categories)))]

    def pick(self, rng: np.random.Generator, subset: int, k: int) -> IntArray:
        """``k`` businesses of ``subset`` by popularity, distinct unless the subset is too small.

        Drawn without replacement so that dedupe keeps most reviews, then shuffled: a
        weighted draw without replacement yields popular businesses first, which would
        otherwise make a user's later reviews less popular than their earlier ones.
        """
        size = int(self.first[subset + 1] - self.first[subset])
        weights = self.weights[:size]
        local = rng.choice(size, k, replace=k > size, p=weights / weights.sum())
        picked: IntArray = self.first[subset] + rng.permutation(local)
        return picked


def plan_groups(
    stable: int, shifting: int, new: int, businesses_per_subset: int, new_group_start: float, new_group_stagger: float
) -> tuple[list[Group], Catalogue]:
    kinds = [GroupKind.STABLE] * stable + [GroupKind.SHIFTING] * shifting + [GroupKind.NEW] * new
    n_subsets = stable + 2 * shifting + new
    if n_subsets > len(CATEGORY_POOL):  # LocalDriftConfig refuses this with a ConfigError first
        raise ValueError(f"{n_subsets} business subsets, but only {len(CATEGORY_POOL)} sets of category names")
    groups: list[Group] = []
    owner: list[int] = []
    rank: list[int] = []
    opens: list[float] = []
    for index, kind in enumerate(kinds):
        count = 2 if kind is GroupKind.SHIFTING else 1
        start = new_group_start + new_group_stagger * (index - stable - shifting) if kind is GroupKind.NEW else 0.0
        groups.append(Group(index, kind, tuple(range(len(owner), len(owner) + count)), start))
        owner += [index] * count
        rank += list(range(count))
        opens += [start] * count
    first = np.arange(n_subsets + 1, dtype=np.int64) * businesses_per_subset
    catalogue = Catalogue(
        categories=CATEGORY_POOL[:n_subsets],
        first=first,
        group=np.asarray(owner, dtype=np.int64),
        rank=np.asarray(rank, dtype=np.int64),
        opens=np.asarray(opens, dtype=np.float64),
        weights=1.0 / (np.arange(businesses_per_subset) + POPULARITY_OFFSET),
    )
    return groups, catalogue
