"""Ray pool settings: what cannot work is refused with the setting and the fix; chaos options parse."""

from __future__ import annotations

import pytest

from workers.pool_config import PoolConfigError, RayPoolConfig, parse_injected_failures

pytestmark = pytest.mark.unit


def test_pool_settings_that_cannot_work_name_the_setting_and_the_fix() -> None:
    with pytest.raises(PoolConfigError, match=r"gpus_per_job = -1.*--job-gpus"):
        RayPoolConfig(gpus_per_job=-1)
    with pytest.raises(PoolConfigError, match=r"max_concurrent_jobs = 0.*--train-concurrency"):
        RayPoolConfig(max_concurrent_jobs=0)
    assert RayPoolConfig(backoff_s=0.5).backoff(3) == 2.0


def test_a_local_ray_too_small_for_the_pool_is_refused_instead_of_hanging_a_job() -> None:
    with pytest.raises(PoolConfigError, match=r"need 2 CPUs.*--ray-cpus.*--train-concurrency"):
        RayPoolConfig(num_cpus=1)  # two actors of one CPU: the second would never be scheduled
    assert RayPoolConfig(num_cpus=1, max_concurrent_jobs=1).num_cpus == 1
    assert RayPoolConfig(num_cpus=1, cpus_per_job=0.5).num_cpus == 1


def test_injected_failures_target_an_adapter_or_one_slice_of_it() -> None:
    failures = parse_injected_failures(["region_3", "global:4", "2/global:9"])
    assert failures == {"region_3": 1, "global": 4, "2/global": 9}
    pool = RayPoolConfig(inject_failures=failures)
    assert pool.injected("2/global", "global", 9) and not pool.injected("2/global", "global", 10)
    assert pool.injected("1/global", "global", 4) and not pool.injected("1/global", "global", 5)
    assert pool.injected("5/region_3", "region_3", 1) and not pool.injected("5/region_3", "region_3", 2)
    with pytest.raises(PoolConfigError, match=r"write \[SLICE/\]ADAPTER\[:ATTEMPTS\]"):
        parse_injected_failures(["global:x"])
