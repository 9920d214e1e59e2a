"""Joining Ray: a local single-node Ray kept on 127.0.0.1, or an existing cluster."""

from __future__ import annotations

import logging
import os

import ray

from workers.pool_config import PoolConfigError, RayPoolConfig

log = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024
"""Jobs exchange paths and small results, not tensors: Ray's default (30 % of RAM) would only cost shared memory."""


def connect(config: RayPoolConfig) -> dict[str, float]:
    """Start or join Ray once per process; the cluster's resources.

    A GPU or CPU request the cluster cannot meet fails here, not as a job that never starts."""
    if not ray.is_initialized():
        if config.address is None:
            # Without these Ray binds every interface and advertises the host's address (docs/METHOD.md section 7).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            ray.init(
                num_cpus=config.num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                _node_ip_address=LOCAL_HOST,
            )
        else:
            ray.init(address=config.address, log_to_driver=False)
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    log.info("ray: %s", {k: v for k, v in resources.items() if k in ("CPU", "GPU", "memory")})
    if config.gpus_per_job > resources.get("GPU", 0.0):
        raise PoolConfigError(
            f"gpus_per_job = {config.gpus_per_job} but the Ray cluster has {resources.get('GPU', 0.0):g} GPUs: "
            "use --job-gpus 0 on CPU, or join a cluster with GPUs (--ray-address)"
        )
    if config.cpus_per_job > resources.get("CPU", 0.0):
        raise PoolConfigError(
            f"cpus_per_job = {config.cpus_per_job} but the Ray cluster has {resources.get('CPU', 0.0):g} CPUs: "
            "lower --job-cpus or raise --ray-cpus"
        )
    return resources
