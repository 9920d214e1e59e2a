"""How the Ray pool runs training jobs: where, how many at once, and what to do when one fails."""

from __future__ import annotations

from dataclasses import dataclass, field

from raie.errors import RaieError

DEFAULT_JOB_TIMEOUT_S = 1800.0
"""A region job trains for minutes on CPU at most; one that runs for half an hour is stuck."""


class PoolConfigError(RaieError, ValueError):
    """A pool setting that cannot work; the message names the setting and the fix."""


@dataclass(frozen=True)
class RayPoolConfig:
    address: str | None = None
    """None: start a local Ray on 127.0.0.1; otherwise join this cluster (``ray.init(address=...)``)."""
    num_cpus: int | None = None
    """CPUs of the local Ray (None: all cores); ignored when joining a cluster."""
    max_concurrent_jobs: int = 2
    """Actors in the pool; each runs one job at a time and keeps the Set-up backbone loaded."""
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0
    """0 on CPU; a fraction such as 0.25 lets four jobs share one GPU."""
    job_timeout_s: float = DEFAULT_JOB_TIMEOUT_S
    max_retries: int = 2
    """Attempts after the first; a job that fails them all is reported and its adapter keeps its version."""
    backoff_s: float = 1.0
    """Wait before the first retry; it doubles with each further retry."""
    inject_failures: dict[str, int] = field(default_factory=dict)
    """Chaos testing: adapter name (every slice) or job id ``<slice>/<adapter>`` -> how many
    of its first attempts fail on purpose."""

    def __post_init__(self) -> None:
        checks = [
            (self.max_concurrent_jobs >= 1, "max_concurrent_jobs", "at least 1 (--train-concurrency)"),
            (self.cpus_per_job > 0, "cpus_per_job", "more than 0 (--job-cpus)"),
            (self.gpus_per_job >= 0, "gpus_per_job", "0 or more, a fraction such as 0.25 to share a GPU (--job-gpus)"),
            (self.job_timeout_s > 0, "job_timeout_s", "more than 0 seconds (--job-timeout-s)"),
            (self.max_retries >= 0, "max_retries", "0 or more (--job-retries)"),
            (self.backoff_s >= 0, "backoff_s", "0 or more seconds"),
            (self.num_cpus is None or self.num_cpus >= 1, "num_cpus", "at least 1, or unset: all cores (--ray-cpus)"),
        ]
        for ok, name, fix in checks:
            if not ok:
                raise PoolConfigError(f"{name} = {getattr(self, name)!r} cannot work: make it {fix}")
        needed = self.max_concurrent_jobs * self.cpus_per_job
        if self.address is None and self.num_cpus is not None and self.num_cpus < needed:
            # Ray would never schedule the actors past the CPUs it has, and a job handed one waits for ever.
            raise PoolConfigError(
                f"{self.max_concurrent_jobs} concurrent jobs of {self.cpus_per_job:g} CPUs need {needed:g} CPUs, "
                f"but the local Ray gets {self.num_cpus} (--ray-cpus): lower --train-concurrency or --job-cpus, "
                "or raise --ray-cpus"
            )

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(self.backoff_s * 2 ** (retry - 1))

    def injected(self, job_id: str, adapter: str, attempt: int) -> bool:
        return attempt <= self.inject_failures.get(job_id, self.inject_failures.get(adapter, 0))


def parse_injected_failures(specs: list[str]) -> dict[str, int]:
    """``[SLICE/]ADAPTER[:ATTEMPTS]`` options (attempts default 1) as a mapping;
    a PoolConfigError names a malformed one."""
    failures: dict[str, int] = {}
    for spec in specs:
        adapter, _, attempts = spec.partition(":")
        if not adapter or (attempts and not attempts.isdigit()):
            raise PoolConfigError(
                f"--inject-failure {spec!r}: write [SLICE/]ADAPTER[:ATTEMPTS], e.g. region_3, global:5 or 2/global:9"
            )
        failures[adapter] = int(attempts) if attempts else 1
    return failures
