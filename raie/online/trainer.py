"""The trainer interface the slice session dispatches to, and its in-process implementation.

A trainer trains the Set-up backbone once, then runs adapter jobs
(:mod:`raie.online.adapter_job`) and reports each job's lifecycle. The Ray
pool in ``workers/`` implements the same protocol with retries, timeouts and
a concurrency limit; the in-process trainer runs jobs one after another in
a worker thread, so the event loop keeps consuming while a slice trains.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from raie.backbones.base import SequentialRecommender
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.online.adapter_job import AdapterJob, AdapterJobResult, run_adapter_job
from raie.online.setup_model import train_setup_on
from raie.protocol.windows import Windows

JobStatus = Literal["queued", "started", "retrying", "finished", "failed"]
"""A job's lifecycle: ``retrying`` = an attempt failed and another follows; ``failed`` = it gave up."""


@dataclass(frozen=True)
class SetupJob:
    """Train the Set-up backbone on slice 0."""

    backbone: str
    config: ExperimentConfig
    catalog: Catalog
    train: Windows
    valid: Windows
    seed: int


@dataclass(frozen=True)
class JobEvent:
    job: AdapterJob
    status: JobStatus
    attempt: int  # 1-based; 0 while queued
    at_ms: int
    error: str | None = None
    result: AdapterJobResult | None = None  # with ``finished``


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended: ``result`` when it published, ``error`` when it gave up."""

    job: AdapterJob
    result: AdapterJobResult | None
    error: str | None
    attempts: int


JobEvents = Callable[[JobEvent], Awaitable[None]]


async def ignore_events(event: JobEvent) -> None:
    """Where job events go when nobody follows them (the offline runner)."""


def job_event(
    job: AdapterJob,
    status: JobStatus,
    attempt: int,
    *,
    error: str | None = None,
    result: AdapterJobResult | None = None,
) -> JobEvent:
    return JobEvent(job, status, attempt, int(time.time() * 1000), error, result)


def describe(error: BaseException) -> str:
    """One line for the store and the topic: the error's type and its first line."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"[:500]


class AdapterTrainer(Protocol):
    async def train_setup(self, job: SetupJob) -> SequentialRecommender: ...

    def warm_up(self) -> None:
        """Get ready for jobs (start workers, load the Set-up backbone) without waiting:
        called once the Set-up backbone exists, so the first slice's jobs do not pay for it."""
        ...

    async def run(
        self, jobs: Sequence[AdapterJob], setup_model: SequentialRecommender, events: JobEvents
    ) -> list[JobOutcome]:
        """Run ``jobs`` (concurrently where the trainer can), one outcome per job, in order.

        A job that fails is reported, never raised: its adapter keeps its previous version."""
        ...


@dataclass(frozen=True)
class InProcessTrainer:
    """Runs jobs one at a time in the default executor, on this process's device."""

    device: torch.device

    async def train_setup(self, job: SetupJob) -> SequentialRecommender:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._setup, job)

    def warm_up(self) -> None:
        """Nothing to start: jobs run on the Set-up model the session already holds."""

    def _setup(self, job: SetupJob) -> SequentialRecommender:
        return train_setup_on(job.backbone, job.config, job.catalog, job.train, job.valid, job.seed, self.device)

    async def run(
        self, jobs: Sequence[AdapterJob], setup_model: SequentialRecommender, events: JobEvents
    ) -> list[JobOutcome]:
        for job in jobs:
            await events(job_event(job, "queued", 0))
        outcomes = []
        loop = asyncio.get_running_loop()
        for job in jobs:
            await events(job_event(job, "started", 1))
            try:
                result = await loop.run_in_executor(None, run_adapter_job, job, setup_model, self.device)
            except Exception as error:  # noqa: BLE001 -- reported, not hidden: the adapter keeps its previous version
                await events(job_event(job, "failed", 1, error=describe(error)))
                outcomes.append(JobOutcome(job, None, describe(error), 1))
                continue
            await events(job_event(job, "finished", 1, result=result))
            outcomes.append(JobOutcome(job, result, None, 1))
        return outcomes
