"""Synthetic Yelp Open Dataset, scenario ``local-drift``: drift in some parts of the item space only.

The default scenario of ``raie data synth``. Every user belongs to one interest
group for life, and every group owns its businesses (its own categories):

* **stable** groups review the same businesses, the same way, from start to end;
* **shifting** groups own two business subsets; around ``shift_at`` each of their
  users moves from the first to the second (a ``shift_leak`` share of their
  in-group reviews goes to the other subset, so neither is unknown on either side);
* **new** groups appear part-way through: their businesses open at
  ``new_group_start`` (one group every ``new_group_stagger`` later), their users
  arrive then, and no one reviews those businesses before they open.

So drift is *local*: one region of the representation space moves, another
appears, the rest stays put, which is what RAIE's region editing is for. A user
gives high stars mostly to their own group's businesses (positives are stars >= 4);
the rest of their reviews go to other open groups' businesses, mostly with low stars.
The true group of every user and business is written to ``groups.jsonl``
(:mod:`raie.data.synthetic_groups`).

The dense default is sized for the paper's Yelp protocol (positives, 10-core,
time blocks at global quantiles 0.5/0.8, windows of 10 context items + 1 target):
each group has thousands of training windows in every block it exists in. With
``sparse`` users' review counts are heavy-tailed as on real Yelp, so most users
have fewer than 10 positives per block and only the tail of heavy reviewers makes
windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from raie.data.synthetic_files import BusinessNulls, IntArray, Reviews, write_businesses, write_reviews, yelp_ids
from raie.data.synthetic_groups import GROUPS_FILE, GroupInfo, GroupKind, GroupTruth, write_groups
from raie.data.synthetic_local_plan import CATEGORY_POOL, Catalogue, FloatArray, Group, plan_groups
from raie.data.yelp import BUSINESS_FILE, REVIEW_FILE
from raie.errors import ConfigError

SPAN_JITTER = 0.05
"""Users start and stop within this fraction of the ends of their span, so every
user of an old group has reviews in each block of a 0.5/0.8 quantile split."""

HIGH_STARS_IN_GROUP, HIGH_STARS_OFF_GROUP = 0.9, 0.1
"""Chance of 4-5 stars for a business of the user's own group / of another group."""

SPARSE_MEDIAN_REVIEWS = 14.0
"""Median reviews per user with ``sparse``: about 11 positives over the whole timeline, so
after the 10-core most users have fewer than 10 positives in a block (about 3 in 4 in F and T,
1 in 2 in the longer S), as on real Yelp."""

SPARSE_SIGMA = 1.0
"""Log-normal spread of reviews per user with ``sparse``: one user in ten has about 50,
one in a hundred about 140; this tail makes most of the windows, as on real data."""

SPARSE_MAX_REVIEWS = 600
"""Cap on one sparse user's reviews, so a single extreme draw cannot dominate a group."""

SPARSE_USERS_PER_GROUP = 3000
"""Users per group that ``raie data synth --sparse`` uses unless told otherwise: ten times the
dense default, so that the tail of heavy reviewers still gives each old group thousands of
training windows in S and F (21,000 users; about 9,000 survive the 10-core)."""


@dataclass(frozen=True)
class LocalDriftConfig:
    """What to generate; the dense default gives 2,100 users and about 260k reviews in a few seconds.

    With the Yelp preset's protocol, every old group then has about 16k training windows
    in S, 6k in F and 2k in T; new groups about 3.5k and 2.5k in F and 2k in T."""

    stable_groups: int = 3
    """Groups whose users never change (3 + 2 shifting = the Yelp preset's K = 5 Set-up regions)."""
    shifting_groups: int = 2
    """Groups whose users move to another business subset around ``shift_at``."""
    new_groups: int = 2
    """Groups (businesses and users) that appear part-way through the timeline."""
    users_per_group: int = 300
    """Users in each group."""
    businesses_per_subset: int = 200
    """Businesses in each subset; stable and new groups have one subset, shifting groups two.
    More than a user's in-group reviews, so that few reviews repeat a business (dedupe drops those)."""
    reviews_per_user: tuple[int, int] = (140, 180)
    """Inclusive range of the reviews a user writes over the whole timeline, when not ``sparse``;
    users of new groups, who arrive late, write the same number per day, so fewer. Enough that
    T, the last 20% of the events, still leaves about 7 training windows per user."""
    sparse: bool = False
    """Heavy-tailed reviews per user at Yelp's sparsity (most users under 10 positives per block)."""
    in_group_probability: float = 0.85
    """Chance that a review is for a business of the user's own group."""
    shift_at: float = 0.68
    """Point of the timeline (0..1) around which shifting groups move. With the defaults the
    event quantiles 0.5 / 0.8 fall near 0.58 / 0.84 of the timeline, so the move is inside F."""
    shift_width: float = 0.1
    """Users of a shifting group switch at moments spread uniformly over this width around ``shift_at``."""
    shift_leak: float = 0.1
    """Share of a shifting group's in-group reviews that go to the subset it is not in."""
    new_group_start: float = 0.6
    """Point of the timeline where the first new group opens: after S of a 0.5/0.8 split."""
    new_group_stagger: float = 0.03
    """Each further new group opens this much later."""
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
        last_opening = self.new_group_start + self.new_group_stagger * max(self.new_groups - 1, 0)
        half = self.shift_width / 2
        rules: list[tuple[str, bool, str]] = [
            ("stable_groups", self.stable_groups >= 0, "use 0 or more"),
            ("shifting_groups", self.shifting_groups >= 0, "use 0 or more"),
            ("new_groups", self.new_groups >= 0, "use 0 or more"),
            (
                "stable_groups",
                self.stable_groups + self.shifting_groups >= 2,
                "give at least two groups that exist from the start, so reviews outside a user's group have a place",
            ),
            (
                "stable_groups",
                self.stable_groups + 2 * self.shifting_groups + self.new_groups <= len(CATEGORY_POOL),
                f"use at most {len(CATEGORY_POOL)} business subsets (stable + 2 x shifting + new): "
                "each needs its own category names",
            ),
            ("users_per_group", self.users_per_group >= 1, "use 1 or more"),
            ("businesses_per_subset", self.businesses_per_subset >= 1, "use 1 or more"),
            ("reviews_per_user", 1 <= low <= high, "use (min, max) with 1 <= min <= max"),
            *((name, 0.0 <= getattr(self, name) <= 1.0, "use a value in [0, 1]") for name in _UNIT_FIELDS),
            ("shift_at", self.shift_at - half > 0.0 and self.shift_at + half < 1.0, "keep the shift inside (0, 1)"),
            ("new_group_start", self.new_group_start > 0.0, "use a point strictly inside (0, 1)"),
            ("new_group_stagger", self.new_group_stagger >= 0.0, "use 0 or more"),
            (
                "new_group_start",
                last_opening + SPAN_JITTER < 1.0 - SPAN_JITTER,
                "open the last new group early enough that its users have time to review",
            ),
            ("start", self.start < self.end, "make start earlier than end"),
            ("seed", self.seed >= 0, "use a seed >= 0"),
        ]
        for name, ok, fix in rules:
            if not ok:
                raise ConfigError(name, f"{getattr(self, name)!r} is not allowed", fix)


_UNIT_FIELDS = (
    "in_group_probability",
    "shift_width",
    "shift_leak",
    "null_attributes_fraction",
    "null_categories_fraction",
)


@dataclass(frozen=True)
class LocalDriftSummary:
    """Counts and ground truth of one generated data set."""

    n_users: int
    n_businesses: int
    n_reviews: int
    n_positive_reviews: int
    truth: GroupTruth


def write_local_drift_yelp(out_dir: Path, config: LocalDriftConfig) -> LocalDriftSummary:
    """Write both Yelp files and ``groups.jsonl`` into ``out_dir`` (created if needed); the ground truth."""
    rng = np.random.default_rng(config.seed)
    groups, catalogue = plan_groups(
        config.stable_groups,
        config.shifting_groups,
        config.new_groups,
        config.businesses_per_subset,
        config.new_group_start,
        config.new_group_stagger,
    )
    business_ids = yelp_ids(rng, catalogue.n_businesses)
    user_group = np.repeat(np.arange(len(groups)), config.users_per_group)
    user_ids = yelp_ids(rng, len(user_group))
    t0, t1 = (int(datetime.combine(d, datetime.min.time(), UTC).timestamp()) for d in (config.start, config.end))
    timeline = _Timeline(t0, t1, _second(catalogue.opens, t0, t1))
    parts: list[Reviews] = []
    switch_at: dict[str, datetime] = {}
    for u, g in enumerate(user_group):
        part, switch = _simulate_user(rng, config, catalogue, groups[g], u, timeline)
        parts.append(part)
        if switch is not None:
            switch_at[user_ids[u]] = timeline.moment(switch)
    order = rng.permutation(sum(len(p.item) for p in parts))  # real files are not sorted by user
    reviews = Reviews.concat(parts, order)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    nulls = BusinessNulls(config.null_attributes_fraction, config.null_categories_fraction)
    write_businesses(out / BUSINESS_FILE, rng, business_ids, catalogue.categories_of_businesses(), nulls, reviews)
    write_reviews(out / REVIEW_FILE, rng, user_ids, business_ids, reviews)
    truth = GroupTruth(
        groups=tuple(
            GroupInfo(
                group.index,
                group.kind,
                tuple(catalogue.categories[s] for s in group.subsets),
                opens=timeline.moment(group.opens) if group.kind is GroupKind.NEW else None,
                shifts=timeline.moment(config.shift_at) if group.kind is GroupKind.SHIFTING else None,
            )
            for group in groups
        ),
        user_group={uid: int(g) for uid, g in zip(user_ids, user_group, strict=True)},
        business_group=dict(zip(business_ids, catalogue.group_of_business().tolist(), strict=True)),
        business_subset=dict(zip(business_ids, catalogue.rank_of_business().tolist(), strict=True)),
        user_switch=switch_at,
    )
    write_groups(out / GROUPS_FILE, truth)
    return LocalDriftSummary(
        n_users=len(user_ids),
        n_businesses=len(business_ids),
        n_reviews=len(order),
        n_positive_reviews=int((reviews.stars >= 4).sum()),
        truth=truth,
    )


def _second(fraction: FloatArray, t0: int, t1: int) -> IntArray:
    seconds: IntArray = t0 + np.floor(fraction * (t1 - t0)).astype(np.int64)
    return seconds


@dataclass(frozen=True)
class _Timeline:
    """Epoch seconds of the first and last day, and of each subset's opening.

    Reviews are drawn as whole seconds and compared with openings as whole
    seconds, so no rounding can put a review before its business opened."""

    t0: int
    t1: int
    opens: IntArray  # [n_subsets]

    def second(self, fraction: float) -> int:
        return int(_second(np.asarray([fraction]), self.t0, self.t1)[0])

    def moment(self, fraction: float) -> datetime:
        return datetime.fromtimestamp(self.second(fraction), UTC)


def _review_count(rng: np.random.Generator, config: LocalDriftConfig) -> int:
    if config.sparse:
        drawn = rng.lognormal(math.log(SPARSE_MEDIAN_REVIEWS), SPARSE_SIGMA)
        return int(min(max(round(drawn), 1), SPARSE_MAX_REVIEWS))
    return int(rng.integers(config.reviews_per_user[0], config.reviews_per_user[1] + 1))


def _simulate_user(
    rng: np.random.Generator,
    config: LocalDriftConfig,
    catalogue: Catalogue,
    group: Group,
    user: int,
    timeline: _Timeline,
) -> tuple[Reviews, float | None]:
    """One user's reviews and, in a shifting group, their switch point (fraction of the timeline)."""
    lo = group.opens + rng.uniform(0, SPAN_JITTER) if group.kind is GroupKind.NEW else rng.uniform(0, SPAN_JITTER)
    hi = rng.uniform(1 - SPAN_JITTER, 1)
    # The count is over the whole timeline; a user active for part of it writes that part of it.
    n = max(1, round(_review_count(rng, config) * (hi - lo)))
    first = timeline.opens[group.subsets[0]] if group.kind is GroupKind.NEW else timeline.t0
    ts = np.sort(rng.integers(max(timeline.second(lo), first), timeline.second(hi) + 1, n))
    home = np.full(n, group.subsets[0])
    switch = None
    if group.kind is GroupKind.SHIFTING:
        switch = rng.uniform(config.shift_at - config.shift_width / 2, config.shift_at + config.shift_width / 2)
        moved = ts >= timeline.second(switch)
        leak = rng.random(n) < config.shift_leak
        home = np.where(moved ^ leak, group.subsets[1], group.subsets[0])
    # Outside the group: any other group's subset that is open by then, uniformly.
    eligible = (timeline.opens[None, :] <= ts[:, None]) & (catalogue.group != group.index)[None, :]
    off = (rng.random((n, len(timeline.opens))) * eligible).argmax(axis=1)
    in_group = rng.random(n) < config.in_group_probability
    chosen = np.where(in_group, home, off)
    picks = np.empty(n, dtype=np.int64)
    for s in np.unique(chosen):
        slots = np.flatnonzero(chosen == s)
        picks[slots] = catalogue.pick(rng, int(s), len(slots))
    high = rng.random(n) < np.where(in_group, HIGH_STARS_IN_GROUP, HIGH_STARS_OFF_GROUP)
    stars = np.where(high, rng.integers(4, 6, n), rng.integers(1, 4, n))
    return Reviews(np.full(n, user), picks, stars, ts), switch
