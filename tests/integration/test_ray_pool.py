"""Adapter jobs on a local Ray: they run, retry, report failures, run side by side, and survive kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import ray
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from raie.adapters import AdapterRegistry
from raie.adapters.routed import region_adapter
from raie.config import ExperimentConfig
from raie.online.adapter_job import AdapterJob
from raie.online.artifacts import Artifacts
from raie.online.trainer import InProcessTrainer, JobEvent, JobOutcome
from raie.protocol.blocks import ProtocolData
from raie.regions.router import FALLBACK
from tests.online_replay import CPU, replay_session
from workers.pool_config import PoolConfigError, RayPoolConfig
from workers.ray_trainer import RayTrainer

pytestmark = pytest.mark.integration

UPDATE_SLICE = 1
CENTRE_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def store(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A store whose Set-up and slice inputs came from the stream's session (in-process)."""
    root = tmp_path_factory.mktemp("store")
    replay_session(synthetic_data, fast_config, root)
    return root


TRAINING_GATE = "RAIE_TEST_TRAINING_GATE"
"""Environment variable of the Ray workers: the directory through which a test pauses a job while it trains."""
ARMED = "armed"
"""In the gate directory: the next job to take an optimiser step pauses there."""
TRAINING = "training"
"""In the gate directory: written by the paused job, holding its process id."""
PAUSE_LIMIT_S = 600.0
"""The paused job is killed long before; if it is not, it trains on and the test fails on its attempts."""
TRAINING_WITHIN_S = 300.0
"""Generous for a loaded CI box: an actor's start, the backbone's load and the first training batch."""


@pytest.fixture(scope="module")
def training_gate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("training-gate")


@pytest.fixture(scope="module")
def local_ray(training_gate: Path) -> Iterator[None]:
    """The local Ray that the pool's own ``connect`` starts, with a training gate in every worker.

    Ray calls the function named by ``RAY_RUNTIME_ENV_HOOK`` with the runtime env of
    ``ray.init``; this one adds the worker setup hook, so the test needs no hook in the
    job's code and the pool still starts Ray itself.
    """
    if ray.is_initialized():
        ray.shutdown()  # a Ray left by another module has no gate; the pool's connect starts one that has
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_RUNTIME_ENV_HOOK", f"{__name__}.{with_training_gate.__name__}")
        env.setenv(TRAINING_GATE, str(training_gate))
        yield
        ray.shutdown()


def with_training_gate(runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    """Ray's runtime env hook (in the test process): every worker runs ``pause_first_training_step`` at start."""
    # A worker runs its setup hook before it can import this module (``tests`` is not
    # installed), so the hook travels by value, not as a reference to this module.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # type: ignore[no-untyped-call]
    runtime_env = dict(runtime_env or {})
    runtime_env["env_vars"] = {**runtime_env.get("env_vars", {}), TRAINING_GATE: os.environ[TRAINING_GATE]}
    runtime_env["worker_process_setup_hook"] = pause_first_training_step
    return runtime_env


def pause_first_training_step() -> None:
    """Ray's worker setup hook (in each worker): once the gate is armed, the first job to take an
    optimiser step writes its process id and waits there, inside training, for the test to kill it.
    Only one job ever pauses, so the retry on a fresh actor trains through."""
    gate = Path(os.environ[TRAINING_GATE])

    def before_step(optimizer: torch.optim.Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not (gate / ARMED).exists():
            return
        claim = gate / f"{TRAINING}.{os.getpid()}"
        claim.write_text(str(os.getpid()))
        try:
            os.link(claim, gate / TRAINING)  # atomic, and refused once another job has paused
        except FileExistsError:
            return
        finally:
            claim.unlink()
        time.sleep(PAUSE_LIMIT_S)

    register_optimizer_step_pre_hook(before_step)


def trainer(store: Path, config: ExperimentConfig, **pool: object) -> RayTrainer:
    settings = RayPoolConfig(num_cpus=2, backoff_s=0.1, **pool)  # type: ignore[arg-type]
    return RayTrainer.start(settings, Artifacts.in_store(store), "sasrec", config, CPU)


def job(store: Path, config: ExperimentConfig, registry: Path, adapter: str, region_id: int) -> AdapterJob:
    artifacts = Artifacts.in_store(store)
    return AdapterJob(UPDATE_SLICE, adapter, region_id, artifacts.train_input(UPDATE_SLICE), None, registry, config, 0)


def region_ids(store: Path, count: int) -> list[int]:
    """The regions with the most new windows in the update slice: enough to train on."""
    from raie.online.adapter_job import JobInput

    data = JobInput.load(Artifacts.in_store(store).train_input(UPDATE_SLICE))
    owners, counts = torch.unique(torch.from_numpy(data.new.owner), return_counts=True)
    ranked = [int(o) for o, _ in sorted(zip(owners.tolist(), counts.tolist(), strict=True), key=lambda x: -x[1])]
    return [r for r in ranked if r != FALLBACK][:count]


def run(pool: RayTrainer, jobs: list[AdapterJob], store: Path) -> tuple[list[JobOutcome], list[JobEvent]]:
    events: list[JobEvent] = []

    async def record(event: JobEvent) -> None:
        events.append(event)

    _, setup_model = Artifacts.in_store(store).load_setup("sasrec", pool.source.config, CPU)
    return asyncio.run(pool.run(jobs, setup_model, record)), events


def steps(events: list[JobEvent], adapter: str) -> list[tuple[str, int]]:
    return [(e.status, e.attempt) for e in events if e.job.adapter == adapter]


def test_a_job_on_ray_publishes_what_the_same_job_publishes_in_process(
    store: Path, fast_config: ExperimentConfig, local_ray: None, tmp_path: Path
) -> None:
    pool = trainer(store, fast_config)
    on_ray = job(store, fast_config, tmp_path / "ray", "global", FALLBACK)
    (outcome,), events = run(pool, [on_ray], store)
    assert outcome.result is not None, outcome.error
    assert steps(events, "global") == [("queued", 0), ("started", 1), ("finished", 1)]

    here = replace(on_ray, registry_root=tmp_path / "here")
    _, setup_model = Artifacts.in_store(store).load_setup("sasrec", fast_config, CPU)
    (reference,) = asyncio.run(InProcessTrainer(CPU).run([here], setup_model, _ignore))
    assert reference.result is not None
    mine, theirs = outcome.result.published.manifest, reference.result.published.manifest
    assert (mine.new_windows, mine.old_windows, mine.version) == (theirs.new_windows, theirs.old_windows, 1)
    ray_weights = AdapterRegistry(tmp_path / "ray").load_weights("global", 1)
    here_weights = AdapterRegistry(tmp_path / "here").load_weights("global", 1)
    assert ray_weights.keys() == here_weights.keys()
    pool.shutdown()


def test_region_jobs_run_side_by_side_without_clashing(
    store: Path, fast_config: ExperimentConfig, local_ray: None, tmp_path: Path
) -> None:
    regions = region_ids(store, 2)
    assert len(regions) == 2
    pool = trainer(store, fast_config, max_concurrent_jobs=2)
    jobs = [job(store, fast_config, tmp_path, region_adapter(r), r) for r in regions]
    jobs.append(job(store, fast_config, tmp_path, "global", FALLBACK))  # 3 jobs, 2 actors: one waits its turn
    outcomes, events = run(pool, jobs, store)

    assert [o.error for o in outcomes] == [None] * 3
    registry = AdapterRegistry(tmp_path)
    assert registry.adapters() == sorted(["global", *(region_adapter(r) for r in regions)])
    for region in regions:
        published = registry.get(region_adapter(region), UPDATE_SLICE)
        assert published.manifest.region_id == region
        assert registry.load_weights(region_adapter(region), UPDATE_SLICE)
    # Two ran at once: the second job started before the first finished.
    order = [(e.status, e.job.adapter) for e in events if e.status in ("started", "finished")]
    assert [s for s, _ in order[:2]] == ["started", "started"]
    pool.shutdown()


def test_a_forced_failure_is_retried_and_one_that_persists_is_reported(
    store: Path, fast_config: ExperimentConfig, local_ray: None, tmp_path: Path
) -> None:
    flaky, broken = region_ids(store, 2)
    failures = {region_adapter(flaky): 1, region_adapter(broken): 9}
    pool = trainer(store, fast_config, max_retries=1, inject_failures=failures)
    jobs = [job(store, fast_config, tmp_path, region_adapter(r), r) for r in (flaky, broken)]
    (recovered, gave_up), events = run(pool, jobs, store)

    assert recovered.result is not None and recovered.attempts == 2
    assert steps(events, region_adapter(flaky)) == [
        ("queued", 0),
        ("started", 1),
        ("retrying", 1),
        ("started", 2),
        ("finished", 2),
    ]
    assert gave_up.result is None and gave_up.attempts == 2
    assert gave_up.error is not None and "InjectedFailure" in gave_up.error and "on purpose" in gave_up.error
    assert steps(events, region_adapter(broken))[-1] == ("failed", 2)
    assert AdapterRegistry(tmp_path).versions(region_adapter(broken)) == [], "a failed job publishes nothing"
    pool.shutdown()


def test_a_job_whose_actor_is_killed_while_it_trains_runs_again_on_a_fresh_one(
    store: Path, fast_config: ExperimentConfig, local_ray: None, training_gate: Path, tmp_path: Path
) -> None:
    pool = trainer(store, fast_config, max_concurrent_jobs=1)
    pool.warm_up()
    (actor,) = pool._actors  # the test reaches the actor to kill its process
    pid = ray.get(actor.pid.remote())
    killed: list[int] = []

    async def kill_once_it_trains() -> None:
        """SIGKILL the process that paused in its first optimiser step."""
        paused = training_gate / TRAINING
        deadline = time.monotonic() + TRAINING_WITHIN_S
        while not paused.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if paused.exists():
            killed.append(int(paused.read_text()))
            os.kill(killed[0], signal.SIGKILL)

    _, setup_model = Artifacts.in_store(store).load_setup("sasrec", fast_config, CPU)
    events: list[JobEvent] = []

    async def record(event: JobEvent) -> None:
        events.append(event)

    the_job = job(store, fast_config, tmp_path, "global", FALLBACK)

    async def run_and_kill() -> JobOutcome:
        outcome, _ = await asyncio.gather(pool.run([the_job], setup_model, record), kill_once_it_trains())
        return outcome[0]

    (training_gate / ARMED).touch()
    try:
        outcome = asyncio.run(run_and_kill())
    finally:
        (training_gate / ARMED).unlink()

    assert killed == [pid], "the job never paused in training on the pool's actor, so nothing was killed there"
    assert outcome.result is not None and outcome.attempts == 2, outcome.error
    assert steps(events, "global") == [("queued", 0), ("started", 1), ("retrying", 1), ("started", 2), ("finished", 2)]
    retry = [e for e in events if e.status == "retrying"]
    assert retry[0].error is not None and "Actor" in retry[0].error, retry[0].error
    (fresh,) = pool._actors
    assert ray.get(fresh.pid.remote()) != pid
    # The retry published the version; the killed attempt left nothing half-written behind.
    registry = AdapterRegistry(tmp_path)
    assert registry.versions("global") == [UPDATE_SLICE]
    assert registry.get("global", UPDATE_SLICE) == outcome.result.published
    assert outcome.result.published.manifest.version == UPDATE_SLICE
    assert registry.load_weights("global", UPDATE_SLICE)
    assert registry.clean_staging() == 0
    pool.shutdown()


async def _ignore(event: JobEvent) -> None:
    return None


def test_a_gpu_request_the_cluster_cannot_meet_fails_at_start_with_the_fix(
    store: Path, fast_config: ExperimentConfig, local_ray: None
) -> None:
    pool = trainer(store, fast_config)  # joins the local Ray
    too_many = pool.cluster_gpus + 0.5
    with pytest.raises(PoolConfigError, match=r"gpus_per_job = .* GPUs: use --job-gpus 0 on CPU"):
        trainer(store, fast_config, gpus_per_job=too_many)
    pool.shutdown()
