"""A slice's adapter training: the global job first, then every retrained region's job at once.

Region adapters start from the global adapter the same slice just trained
(``regions.init: global``), so the global job runs alone and the region jobs,
independent of one another, run concurrently on whatever the trainer offers.
A failed job leaves its adapter's previous version live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from raie.adapters import ADAPTERS_DIR, AdapterManifest
from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER
from raie.config import ExperimentConfig
from raie.online.adapter_job import RAIE, AdapterJob, JobInput
from raie.online.trainer import AdapterTrainer, JobEvent, JobEvents, JobOutcome
from raie.recording import Row
from raie.regions.editor import SliceEdits
from raie.regions.router import FALLBACK
from raie.strategies.global_lora import baseline_adapter
from raie.strategies.raie import needs_retraining
from raie.strategies.routed import region_adapter


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

    def global_job(self) -> AdapterJob:
        """The global adapter continues from its live version (a fresh LoRA the first time)."""
        start = (GLOBAL_ADAPTER, self.live[GLOBAL_ADAPTER]) if GLOBAL_ADAPTER in self.live else None
        return self._job(GLOBAL_ADAPTER, FALLBACK, start)

    def region_jobs(self, global_version: int | None) -> list[AdapterJob]:
        """Every edited or new region with enough new windows; each starts from the global
        adapter's ``global_version`` (``init: global``) or from its own live version."""
        jobs = []
        for region_id in self.data.region_ids.tolist():
            if not needs_retraining(region_id, self.edits, self.data.new, self.config):
                continue
            name = region_adapter(region_id)
            if self.config.regions.init == "global" and global_version is not None:
                start: tuple[str, int] | None = (GLOBAL_ADAPTER, global_version)
            else:
                start = (name, self.live[name]) if name in self.live else None
            jobs.append(self._job(name, region_id, start))
        return jobs

    def baseline_jobs(self) -> list[AdapterJob]:
        """One job per trained baseline, from its live version (a fresh LoRA the first time)."""
        jobs = []
        for method in self.baselines:
            adapter = baseline_adapter(method)
            jobs.append(
                self._job(adapter, FALLBACK, (adapter, self.live[adapter]) if adapter in self.live else None, method)
            )
        return jobs

    def _job(self, adapter: str, region_id: int, start: tuple[str, int] | None, method: str = RAIE) -> AdapterJob:
        return AdapterJob(
            self.slice, adapter, region_id, self.input_path, start, self.registry_root, self.config, self.seed, method
        )


@dataclass
class SliceTraining:
    live: dict[str, int]  # adapter -> version serving after the slice
    outcomes: list[JobOutcome] = field(default_factory=list)
    events: list[JobEvent] = field(default_factory=list)

    def rows(self) -> dict[str, dict[str, list[Row]]]:
        """Per method: ``train_jobs`` (finished jobs), ``adapters`` (what they published) and ``train_job_events``."""
        rows: dict[str, dict[str, list[Row]]] = {}

        def tables(method: str) -> dict[str, list[Row]]:
            return rows.setdefault(method, {"train_jobs": [], "adapters": [], "train_job_events": []})

        for outcome in self.outcomes:
            tables(outcome.job.method)  # a job that failed still has its (empty) tables replaced
            if outcome.result is not None:
                manifest = outcome.result.published.manifest
                tables(outcome.job.method)["train_jobs"].append(outcome.result.training.row(manifest.slice))
                tables(outcome.job.method)["adapters"].append(adapter_row(manifest))
        for event in self.events:
            tables(event.job.method)["train_job_events"].append(event_row(event))
        return rows


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

    await run([plan.global_job(), *plan.baseline_jobs()])  # the baselines need nothing from RAIE's jobs
    await run(plan.region_jobs(training.live.get(GLOBAL_ADAPTER)))
    return training


def adapter_row(manifest: AdapterManifest) -> Row:
    return {
        "slice": manifest.slice,
        "adapter": manifest.adapter,
        "region_id": FALLBACK if manifest.region_id is None else manifest.region_id,
        "version": manifest.version,
        "parent_adapter": manifest.parent_adapter,
        "parent_version": manifest.parent_version,
        "path": f"{ADAPTERS_DIR}/{manifest.adapter}/{manifest.version}",
        "sha256": manifest.sha256,
        "new_windows": manifest.new_windows,
        "old_windows": manifest.old_windows,
        "valid_recall": manifest.metrics.get("valid_recall10"),
        "created_at_ms": manifest.created_at_ms,
    }


def event_row(event: JobEvent) -> Row:
    return {
        "slice": event.job.slice,
        "job_id": event.job.job_id,
        "adapter": event.job.adapter,
        "region_id": event.job.region_id,
        "status": event.status,
        "attempt": event.attempt,
        "at_ms": event.at_ms,
        "error": event.error,
    }
