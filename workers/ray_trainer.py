"""The Ray pool: adapter jobs on a fixed set of actors, with timeouts, retries and backoff.

Implements :class:`raie.online.trainer.AdapterTrainer`. The event loop never
blocks on Ray: each attempt awaits its ObjectRef. An actor that dies or times
out is killed and replaced, so the next attempt starts on a fresh process; an
error raised by the job itself is retried too (after ``backoff``), because a
re-run is deterministic and cheap next to a stale adapter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
import torch

from raie.backbones.base import SequentialRecommender
from raie.config import ExperimentConfig
from raie.online.adapter_job import AdapterJob, AdapterJobResult
from raie.online.artifacts import Artifacts
from raie.online.trainer import InProcessTrainer, JobEvents, JobOutcome, SetupJob, describe, job_event
from workers.job_actor import AdapterJobActor, SetupSource
from workers.pool_config import RayPoolConfig
from workers.ray_runtime import connect

log = logging.getLogger(__name__)


@dataclass
class RayTrainer:
    pool: RayPoolConfig
    source: SetupSource
    device: torch.device  # for the Set-up training, which stays in this process (one job per store)
    cluster_cpus: float
    cluster_gpus: float
    _actors: list[Any] = field(default_factory=list)

    @classmethod
    def start(
        cls, pool: RayPoolConfig, artifacts: Artifacts, backbone: str, config: ExperimentConfig, device: torch.device
    ) -> RayTrainer:
        resources = connect(pool)
        source = SetupSource(artifacts, backbone, config)
        return cls(pool, source, device, resources.get("CPU", 1.0), resources.get("GPU", 0.0))

    async def train_setup(self, job: SetupJob) -> SequentialRecommender:
        return await InProcessTrainer(self.device).train_setup(job)

    def warm_up(self) -> None:
        """Start the actors and have each load the Set-up backbone; jobs queue behind it on the actor."""
        for actor in self._actors or self._start_actors():
            actor.warm_up.remote()  # not awaited: a failure here shows again, and is reported, on the first job

    async def run(
        self, jobs: Sequence[AdapterJob], setup_model: SequentialRecommender, events: JobEvents
    ) -> list[JobOutcome]:
        """All jobs at once, at most ``max_concurrent_jobs`` running; ``setup_model`` is
        not sent: each actor loads the Set-up backbone from the store. One run at a time."""
        idle: asyncio.Queue[Any] = asyncio.Queue()  # per run: a queue belongs to one event loop
        for actor in self._actors or self._start_actors():
            idle.put_nowait(actor)
        for job in jobs:
            await events(job_event(job, "queued", 0))
        threads = self._threads_per_job(len(jobs))
        return list(await asyncio.gather(*[self._run_one(job, idle, events, threads) for job in jobs]))

    def _threads_per_job(self, jobs: int) -> int:
        """Torch threads per job. Ray gives each actor ``cpus_per_job`` threads; on the local
        Ray a run with fewer jobs than actors (the global adapter's, alone) would leave cores
        idle, so there the running jobs share all of the machine's CPUs."""
        if self.pool.address is not None or jobs == 0:
            return max(1, int(self.pool.cpus_per_job))
        running = min(jobs, self.pool.max_concurrent_jobs)
        return max(1, int(self.cluster_cpus // running))

    def shutdown(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors.clear()

    def _start_actors(self) -> list[Any]:
        return [self._new_actor() for _ in range(self.pool.max_concurrent_jobs)]

    def _new_actor(self) -> Any:
        options = {"num_cpus": self.pool.cpus_per_job, "num_gpus": self.pool.gpus_per_job}
        actor = AdapterJobActor.options(**options).remote(self.source)  # type: ignore[attr-defined]
        self._actors.append(actor)
        return actor

    def _replace(self, actor: Any) -> Any:
        ray.kill(actor)
        self._actors.remove(actor)
        return self._new_actor()

    async def _run_one(self, job: AdapterJob, idle: asyncio.Queue[Any], events: JobEvents, threads: int) -> JobOutcome:
        attempts = self.pool.max_retries + 1
        for attempt in range(1, attempts + 1):
            actor = await idle.get()
            await events(job_event(job, "started", attempt))
            try:
                fail = self.pool.injected(job.job_id, job.adapter, attempt)
                ref = actor.run.remote(job, fail, threads)
                result: AdapterJobResult = await asyncio.wait_for(ref, self.pool.job_timeout_s)
            except TimeoutError:
                error = f"TimeoutError: no result within {self.pool.job_timeout_s:g} s (--job-timeout-s)"
                idle.put_nowait(self._replace(actor))
            except ray.exceptions.RayTaskError as failure:  # the job raised: the actor itself is fine
                error = describe(failure.cause) if failure.cause is not None else describe(failure)
                idle.put_nowait(actor)
            except ray.exceptions.RayError as crash:  # the actor died, or Ray lost the job: a fresh actor
                error = describe(crash)
                idle.put_nowait(self._replace(actor))
            else:
                idle.put_nowait(actor)
                await events(job_event(job, "finished", attempt, result=result))
                return JobOutcome(job, result, None, attempt)
            if attempt == attempts:
                log.error("job %s failed after %d attempts: %s", job.job_id, attempt, error)
                await events(job_event(job, "failed", attempt, error=error))
                return JobOutcome(job, None, error, attempt)
            log.warning("job %s attempt %d failed, retrying: %s", job.job_id, attempt, error)
            await events(job_event(job, "retrying", attempt, error=error))
            await asyncio.sleep(self.pool.backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns")
