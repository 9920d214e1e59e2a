"""Region editing: Update, Expand and Add, one sample at a time, per slice.

The decision rule (docs/METHOD.md section 3), with p1, p2 from :mod:`raie.regions.routing`:

- p1 < tau: **Add**. The sample goes to a buffer; a full buffer is clustered
  with spherical k-means and each big enough cluster becomes a new region.
- p1 >= tau and p1 - p2 >= delta: **Update** the top region (EMA of centre and radius).
- p1 >= tau and p1 - p2 < delta: **Expand** the top region's radius by eta
  (capped), after the same EMA refinement.

Samples are edited in order, each routed against the bank as the previous one
left it, so the outcome does not depend on how a stream batches its events.
The editor is the bank's single writer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from raie.config import RegionConfig
from raie.regions.bank import RegionBank
from raie.regions.geometry import angular_distance, normalize, quantile_radius
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


class RegionEditor:
    def __init__(self, bank: RegionBank, config: RegionConfig, *, seed: int, slice_index: int = 1) -> None:
        self.bank = bank
        self.config = config
        self.seed = seed
        self.max_radius = np.deg2rad(config.max_radius_deg)
        self.current = SliceEdits(slice_index)
        self._flushes = 0

    def edit(self, x: np.ndarray) -> SampleEdits:
        """Apply the decision rule to each row of ``x`` [N, H], in order."""
        x = normalize(x)
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
                self._buffer(sample)
                continue
            index = int(routes.top[0])
            expand = routes.delta[0] < cfg.delta
            self._refine(index, sample, float(routes.distance[0, index]))
            if expand:
                self.bank.radius[index] = min(self.bank.radius[index] * (1.0 + cfg.eta), self.max_radius)
            op = Op.EXPAND if expand else Op.UPDATE
            region_id = int(self.bank.ids[index])
            ops[i], regions[i] = op.value, region_id
            self.current.counts[(region_id, op.value)] += 1
            self.current.edited.add(region_id)
        return SampleEdits(ops, regions, p1, p2)

    def close_slice(self) -> SliceEdits:
        """End the slice: bump the version of every changed region; the buffer carries over."""
        done = self.current
        for region_id in done.changed:
            self.bank.version[self.bank.index_of(region_id)] += 1
        self.current = SliceEdits(done.slice_index + 1)
        return done

    def _refine(self, index: int, sample: np.ndarray, distance: float) -> None:
        """Update's EMA: the centre moves towards the sample, the radius towards its distance."""
        bank, cfg = self.bank, self.config
        bank.centres[index] = normalize((1.0 - cfg.alpha) * bank.centres[index] + cfg.alpha * sample)
        bank.radius[index] = (1.0 - cfg.beta) * bank.radius[index] + cfg.beta * distance
        bank.count[index] += 1

    def _buffer(self, sample: np.ndarray) -> None:
        self.bank.buffer = np.vstack([self.bank.buffer, sample[None, :]])
        self.current.counts[(NO_REGION, Op.ADD.value)] += 1
        if len(self.bank.buffer) >= self.config.buffer_size:
            self._flush()

    def _flush(self) -> None:
        """Cluster the buffer; big clusters become regions, the rest join their nearest region."""
        cfg, bank = self.config, self.bank
        buffer, bank.buffer = bank.buffer, bank.buffer[:0]
        clustering = spherical_kmeans(buffer, min(cfg.add_clusters, len(buffer)), seed=self.seed + self._flushes)
        self._flushes += 1
        for j in range(len(clustering.centres)):
            members = buffer[clustering.labels == j]
            if len(members) >= cfg.min_region_size:
                distance = angular_distance(members, clustering.centres[j : j + 1])[:, 0]
                radius = quantile_radius(distance, cfg.radius_quantile)
                region_id = bank.add_region(clustering.centres[j], radius, len(members))
                self.current.created.append(region_id)
                self.current.counts[(region_id, Op.CREATE.value)] += len(members)
            elif len(bank):
                nearest = (members @ bank.centres.T).argmax(axis=1)
                np.add.at(bank.count, nearest, 1)
