"""A slice's adapter training: the global job first, then every retrained region's job at once.

Region adapters start from the global adapter the same slice just trained
(``regions.init: global``), so the global job runs alone and the region jobs,
independent of one another, run concurrently on whatever the trainer offers.
A failed job leaves its adapter's previous version live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from raie.adapters.routed import region_adapter
from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER
from raie.config import RESIDUAL_INIT, ExperimentConfig
from raie.online.adapter_job import AdapterJob, JobInput
from raie.online.trainer import AdapterTrainer, JobEvent, JobEvents, JobOutcome
from raie.regions.editor import SliceEdits
from raie.regions.router import FALLBACK
from raie.strategies import RAIE, build_strategy
from raie.strategies.global_lora import baseline_adapter
from raie.strategies.raie import needs_retraining


@dataclass(frozen=True)
class SlicePlan:
    """What one slice's training needs: its input in the store, its edits, and the versions live before it."""

    slice: int
    config: ExperimentConfig
    seed: int
    input_path: Path
    data: JobInput
    edits: SliceEdits
    registry_root: Path
    live: dict[str, int]
    baselines: tuple[str, ...] = ()
    """Trained baselines scored beside RAIE: each continues its own adapter on the slice."""
    trains_global: bool = True  # False when no method of the line reads RAIE's adapters
    trains_regions: bool = True  # False when none routes (w/o KR, w/o All, or baselines alone)

    def global_jobs(self) -> list[AdapterJob]:
        """The global adapter continues from its live version (a fresh LoRA the first time)."""
        if not self.trains_global:
            return []
        start = (GLOBAL_ADAPTER, self.live[GLOBAL_ADAPTER]) if GLOBAL_ADAPTER in self.live else None
        return [self._job(GLOBAL_ADAPTER, FALLBACK, start)]

    def region_jobs(self, global_version: int | None) -> list[AdapterJob]:
        """Every edited or new region with enough new windows; each starts from the global
        adapter's ``global_version`` (``init: global``) or from its own live version."""
        jobs: list[AdapterJob] = []
        if not self.trains_regions:
            return jobs
        for region_id in self.data.region_ids.tolist():
            if not needs_retraining(region_id, self.edits, self.data.new, self.config):
                continue
            name = region_adapter(region_id)
            own = (name, self.live[name]) if name in self.live else None
            policy = self.config.regions.init
            if policy == RESIDUAL_INIT:
                beneath = None if global_version is None else (GLOBAL_ADAPTER, global_version)
                jobs.append(self._job(name, region_id, own, stacked_on=beneath))
            elif policy == "global" and global_version is not None:
                jobs.append(self._job(name, region_id, (GLOBAL_ADAPTER, global_version)))
            else:
                jobs.append(self._job(name, region_id, own))
        return jobs

    def baseline_jobs(self) -> list[AdapterJob]:
        """One job per trained baseline that trains on this slice (``hybrid`` keeps a schedule),
        from its live version (a fresh LoRA the first time)."""
        jobs = []
        for method in self.baselines:
            if not build_strategy(method).trains_on(self.slice, self.config):
                continue
            adapter = baseline_adapter(method)
            jobs.append(
                self._job(adapter, FALLBACK, (adapter, self.live[adapter]) if adapter in self.live else None, method)
            )
        return jobs

    def _job(
        self,
        adapter: str,
        region_id: int,
        start: tuple[str, int] | None,
        method: str = RAIE,
        stacked_on: tuple[str, int] | None = None,
    ) -> AdapterJob:
        return AdapterJob(
            self.slice,
            adapter,
            region_id,
            self.input_path,
            start,
            self.registry_root,
            self.config,
            self.seed,
            method,
            stacked_on,
        )


PROMOTED, REJECTED, ROLLED_BACK = "promoted", "rejected", "rolled_back"
"""What became of an adapter version: the guard let it serve or kept the previous one
(raie/online/promotion.py), or an operator made it live again (``raie adapters rollback``)."""


@dataclass(frozen=True)
class PromotionDecision:
    """Whether one new adapter version serves after its slice, and the figures that decided it."""

    slice: int
    adapter: str
    region_id: int  # FALLBACK (-1) for the global adapter and the baselines' adapters
    method: str  # whose store rows record it: RAIE, or the baseline that trains the adapter
    candidate_version: int
    previous_version: int | None  # None: no version served before (the Set-up model, or the global adapter)
    candidate_recall: float | None  # validation Recall@10; None when nothing was scored
    previous_recall: float | None
    max_regression: float | None  # None for a rollback: an operator's decision, no tolerance
    decision: str  # PROMOTED, REJECTED or ROLLED_BACK
    reason: str
    at_ms: int

    @property
    def promoted(self) -> bool:
        return self.decision != REJECTED

    @property
    def is_region(self) -> bool:
        return self.region_id != FALLBACK


@dataclass
class SliceTraining:
    live: dict[str, int]  # adapter -> version serving after the slice
    outcomes: list[JobOutcome] = field(default_factory=list)
    events: list[JobEvent] = field(default_factory=list)
    decisions: list[PromotionDecision] = field(default_factory=list)
    """The promotion guard's decision on every adapter whose version the slice changed."""

    @property
    def regions_promoted(self) -> bool:
        """False when the guard kept the region versions from before the slice."""
        return all(d.promoted for d in self.decisions if d.is_region)

    @property
    def guard_recalls(self) -> tuple[float, float] | None:
        """The routed model's validation Recall@10 with the new and with the previous region
        versions; None when no region version was scored."""
        for d in self.decisions:
            if d.is_region and d.candidate_recall is not None and d.previous_recall is not None:
                return d.candidate_recall, d.previous_recall
        return None


async def train_slice(
    trainer: AdapterTrainer, plan: SlicePlan, setup_model: SequentialRecommender, events: JobEvents
) -> SliceTraining:
    training = SliceTraining(dict(plan.live))

    async def record(event: JobEvent) -> None:
        training.events.append(event)
        await events(event)

    async def run(jobs: list[AdapterJob]) -> None:
        outcomes = await trainer.run(jobs, setup_model, record) if jobs else []
        training.outcomes += outcomes
        training.live |= {o.job.adapter: o.result.published.manifest.version for o in outcomes if o.result is not None}

    await run([*plan.global_jobs(), *plan.baseline_jobs()])  # the baselines need nothing from RAIE's jobs
    await run(plan.region_jobs(training.live.get(GLOBAL_ADAPTER)))
    return training
