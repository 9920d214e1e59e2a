"""Region editing: Update, Expand and Add, one sample at a time, per slice.

The decision rule (docs/METHOD.md section 3), with p1, p2 from :mod:`raie.regions.routing`:

- p1 < tau: **Add**. The sample goes to a buffer; a full buffer is clustered
  with spherical k-means and each cluster that is big enough and spread over
  enough distinct users becomes a new region; the other clusters' samples join
  their nearest region.
- p1 >= tau and p1 - p2 >= delta: **Update**: the top region absorbs the sample.
- p1 >= tau and p1 - p2 < delta: **Expand**: the same absorption, logged as its own op.

Absorbing moves the centre as a running mean of the members' directions and the
radius as a tracker of their ``radius_quantile`` angle, both weighted by the member
count (:mod:`raie.regions.geometry`), so the radius stays what it is defined as and
a region remembers its Set-up members. Samples are edited in order, each routed
against the bank as the previous one left it, so the outcome does not depend on
how a stream batches its events. The editor is the bank's single writer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from raie.config import RegionConfig
from raie.regions.bank import UNKNOWN_USER, RegionBank
from raie.regions.geometry import (
    absorb_direction,
    angular_distance,
    cosine_to_angle,
    normalize,
    quantile_radius,
    track_quantile,
)
from raie.regions.kmeans import spherical_kmeans
from raie.regions.routing import Routes

NO_REGION = -1
"""Region id of buffered samples (Add) in the per-sample log."""


class Op(StrEnum):
    UPDATE = "update"
    EXPAND = "expand"
    ADD = "add"
    CREATE = "create"
    """Not a per-sample decision: a new region formed from the Add buffer."""


@dataclass(frozen=True)
class SampleEdits:
    """What the editor did with each sample of one ``edit`` call."""

    op: np.ndarray  # <U6 [N]: "update", "expand" or "add"
    region: np.ndarray  # int64 [N]: the edited region's id, NO_REGION for Add
    p1: np.ndarray  # float64 [N]: the top confidence the decision used (NaN with no region yet)
    p2: np.ndarray  # float64 [N]: the runner-up's

    @classmethod
    def unedited(cls, region_ids: np.ndarray, routes: Routes) -> SampleEdits:
        """Samples that only join their nearest region, no op: Set-up's windows, or any when regions are fixed."""
        return cls(np.full(len(routes), None), region_ids[routes.top], routes.p1, routes.p2)


@dataclass
class SliceEdits:
    """Everything one slice changed: op counts per region, edited and new regions.

    ``counts[(region_id, op)]`` counts samples; for ``create`` it counts the
    buffered samples that formed the new region.
    """

    slice_index: int
    counts: Counter[tuple[int, str]] = field(default_factory=Counter)
    edited: set[int] = field(default_factory=set)
    created: list[int] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """Samples per op, plus the number of regions created."""
        totals = {op.value: 0 for op in Op}
        for (_, op), n in self.counts.items():
            if op != Op.CREATE:
                totals[op] += n
        totals[Op.CREATE.value] = len(self.created)
        return totals

    @property
    def changed(self) -> list[int]:
        """Regions whose adapters must be retrained: edited or new."""
        return sorted(self.edited | set(self.created))


def distinct_users(users: np.ndarray) -> int | None:
    """Distinct users among ``users``, each unknown one counted as its own; None when all are unknown."""
    known = users[users != UNKNOWN_USER]
    if not len(known):
        return None
    return len(np.unique(known)) + len(users) - len(known)


class RegionEditor:
    def __init__(self, bank: RegionBank, config: RegionConfig, *, seed: int, slice_index: int = 1) -> None:
        self.bank = bank
        self.config = config
        self.seed = seed
        self.max_radius = np.deg2rad(config.max_radius_deg)
        self.current = SliceEdits(slice_index)
        self._flushes = 0

    def edit(self, x: np.ndarray, users: np.ndarray | None = None) -> SampleEdits:
        """Apply the decision rule to each row of ``x`` [N, H], in order.

        ``users`` (int [N], non-negative) is each row's user id; Add's distinct-user
        rule counts them. ``None`` means the users are unknown: those samples are
        buffered as ``UNKNOWN_USER`` and each counts as a distinct user, so a cluster
        whose users are all unknown skips the rule.
        """
        x = normalize(x)
        user_ids = self._user_ids(users, len(x))
        ops = np.empty(len(x), dtype="<U6")
        regions = np.full(len(x), NO_REGION, dtype=np.int64)
        p1, p2 = np.full(len(x), np.nan), np.full(len(x), np.nan)
        cfg = self.config
        for i, sample in enumerate(x):
            routes = self.bank.route(sample[None, :], rule=cfg.confidence, temperature=cfg.temperature)
            if len(self.bank):
                p1[i], p2[i] = routes.p1[0], routes.p2[0]
            if len(self.bank) == 0 or routes.p1[0] < cfg.tau:
                ops[i] = Op.ADD.value
                self._buffer(sample, int(user_ids[i]))
                continue
            index = int(routes.top[0])
            self._absorb(index, sample, float(routes.distance[0, index]))
            op = Op.EXPAND if routes.delta[0] < cfg.delta else Op.UPDATE
            region_id = int(self.bank.ids[index])
            ops[i], regions[i] = op.value, region_id
            self.current.counts[(region_id, op.value)] += 1
        return SampleEdits(ops, regions, p1, p2)

    def close_slice(self) -> SliceEdits:
        """End the slice: bump the version of every changed region; the buffer carries over."""
        done = self.current
        for region_id in done.changed:
            self.bank.version[self.bank.index_of(region_id)] += 1
        self.current = SliceEdits(done.slice_index + 1)
        return done

    @staticmethod
    def _user_ids(users: np.ndarray | None, n: int) -> np.ndarray:
        if users is None:
            return np.full(n, UNKNOWN_USER, dtype=np.int64)
        ids = np.asarray(users)
        if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"users must be {n} integer ids aligned with x, got {ids.dtype} {ids.shape}")
        if n and ids.min() < 0:
            raise ValueError(f"user ids must be non-negative ({UNKNOWN_USER} marks an unknown user)")
        return ids.astype(np.int64)

    def _absorb(self, index: int, sample: np.ndarray, distance: float) -> None:
        """The region gains a member; ``distance`` is the sample's angle to the centre before it moves."""
        bank, n = self.bank, int(self.bank.count[index])
        bank.radius[index] = track_quantile(
            float(bank.radius[index]), distance, n, self.config.radius_quantile, self.max_radius
        )
        bank.centres[index] = absorb_direction(bank.centres[index], sample, n)
        bank.count[index] = n + 1
        self.current.edited.add(int(bank.ids[index]))

    def _buffer(self, sample: np.ndarray, user: int) -> None:
        self.bank.buffer = np.vstack([self.bank.buffer, sample[None, :]])
        self.bank.buffer_users = np.append(self.bank.buffer_users, user)
        self.current.counts[(NO_REGION, Op.ADD.value)] += 1
        if len(self.bank.buffer) >= self.config.buffer_size:
            self._flush()

    def _flush(self) -> None:
        """Cluster the buffer; clusters that qualify become regions, the rest join their nearest region."""
        cfg, bank = self.config, self.bank
        buffer, users = bank.buffer, bank.buffer_users
        bank.buffer, bank.buffer_users = buffer[:0], users[:0]
        clustering = spherical_kmeans(buffer, min(cfg.add_clusters, len(buffer)), seed=self.seed + self._flushes)
        self._flushes += 1
        joining = np.zeros(len(buffer), dtype=bool)
        for j, centre in enumerate(clustering.centres):
            in_cluster = clustering.labels == j
            distance = angular_distance(buffer[in_cluster], centre[None, :])[:, 0]
            radius = quantile_radius(distance, cfg.radius_quantile)
            if not self._qualifies(users[in_cluster], centre, float(np.median(distance))):
                joining |= in_cluster
                continue
            region_id = bank.add_region(centre, radius, int(in_cluster.sum()))
            self.current.created.append(region_id)
            self.current.counts[(region_id, Op.CREATE.value)] += int(in_cluster.sum())
        if not len(bank):
            return  # nowhere to join: no region exists yet and none formed
        # Joined after every new region exists, so a rejected cluster may join one formed beside it.
        for sample in buffer[joining]:
            cosine = bank.centres @ sample
            index = int(cosine.argmax())
            self._absorb(index, sample, float(cosine_to_angle(cosine[index])))

    def _qualifies(self, users: np.ndarray, centre: np.ndarray, spread: float) -> bool:
        """Whether a buffer cluster (its members' users, its centre and median angle) becomes a region.

        - Big enough: ``min_region_size`` members.
        - Not a few users' burst: ``add_min_users`` distinct users (skipped when all are unknown).
        - Apart from every region: its centre outside every region's radius, and nearer its
          own members (median angle) than any region's centre. Buffered samples include
          every region's far tail (a tenth of its members lie past its radius by
          definition, and some far enough to Add); clustered, one region's tail is centred
          inside that region, and two regions' tails together make a cluster wider than its
          distance to them. Neither is a new interest, and either would split a region. A
          new interest whose windows the frozen encoder spreads widely (items it never
          trained) still qualifies while its core is tighter than its distance to the rest.
        """
        cfg, bank = self.config, self.bank
        if len(users) < cfg.min_region_size:
            return False
        distinct = distinct_users(users)
        if distinct is not None and distinct < cfg.add_min_users:
            return False
        if not len(bank):
            return True
        gap = angular_distance(centre[None, :], bank.centres)[0]
        return bool(np.all(gap > bank.radius) and gap.min() > spread)
