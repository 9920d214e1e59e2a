"""``raie worker``: the Faust stream worker (ingress, store sink, region editor).

Order of a start: every option is checked (argparse types, then the config,
the store directory and the Ray pool settings; exit 2), then the broker is
reached and Ray started (exit 1 when either fails), then the worker runs. A
typo therefore fails at once, not when slice 0 closes minutes later.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from raie.backbones import backbone_names
from raie.cli.common import above, add_config_arguments, at_least, resolve_config
from raie.data.dataset import dataset_names
from raie.errors import ConfigError, RuntimeFailure
from raie.online.prequential import DEFAULT_METHODS, SCORED_METHODS, check_methods
from raie.online.slice_clock import Watermark
from raie.store.errors import StoreError
from raie.store.store import check_root
from streams.cli.options import bootstrap_servers, kafka_name
from streams.connect import DEFAULT_BOOTSTRAP
from streams.settings import MAX_PORT, WorkerSettings
from streams.topic_names import DAY_MS, ROUTED_WINDOWS_RETENTION_MS
from workers.pool_config import PoolConfigError, RayPoolConfig, parse_injected_failures

RAY_START_ERRORS = (RuntimeError, OSError)
"""What ``ray.init`` raises when Ray cannot start or be joined: RuntimeError
(GCS or raylet did not come up), ConnectionError / TimeoutError (no cluster at
--ray-address), other OSErrors (ports, shared memory)."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run the stream worker until SIGTERM",
        description="Consume `interactions`, window, embed, route and edit regions per slice; "
        "write interactions and slice results to the store.",
    )
    worker.add_argument(
        "--bootstrap",
        type=bootstrap_servers,
        default=DEFAULT_BOOTSTRAP,
        help=f"broker address (default {DEFAULT_BOOTSTRAP})",
    )
    worker.add_argument("--store", required=True, type=Path, help="store directory (created if absent)")
    worker.add_argument("--dataset", default="movielens", choices=dataset_names(), help="which preset to run with")
    add_config_arguments(worker)
    worker.add_argument(
        "--backbone", default="sasrec", choices=backbone_names(), help="frozen backbone the stream embeds with"
    )
    worker.add_argument("--seed", type=at_least(int, 0, "0"), default=0)
    worker.add_argument(
        "--app-id", type=kafka_name, default=None, help="consumer group and changelog prefix (default raie-stream)"
    )
    _add_slice_arguments(worker)
    _add_web_arguments(worker)
    _add_pool_arguments(worker)
    worker.set_defaults(handler=worker_command)


def _add_slice_arguments(worker: argparse.ArgumentParser) -> None:
    worker.add_argument(
        "--slice-days",
        type=above(float, 0.0, "7"),
        default=None,
        help="close slices by event time every N days (default: only at the replayer's slice marks)",
    )
    worker.add_argument(
        "--slice-origin-ms", type=at_least(int, 0, "0"), default=0, help="event time where slice 0 starts"
    )
    worker.add_argument(
        "--batch",
        type=at_least(int, 1, "1024"),
        default=None,
        help=f"events per ingress batch, one embedding pass each (default {WorkerSettings.ingress_batch})",
    )
    # Faust reads a zero wait as "no limit": a partial batch would then wait forever.
    worker.add_argument(
        "--linger-ms",
        type=above(float, 0.0, "5"),
        default=None,
        help=f"longest wait for a batch to fill (default {WorkerSettings.ingress_linger_s * 1000:g})",
    )
    worker.add_argument(
        "--commit-ms",
        type=above(float, 0.0, "1000"),
        default=None,
        help="how often store rows and state are made durable and records acked "
        f"(default {WorkerSettings.commit_interval_s * 1000:g})",
    )
    worker.add_argument(
        "--torch-threads",
        type=at_least(int, 1, "1"),
        default=None,
        help="torch threads of the worker (default: torch's, which keeps scores equal to raie experiment's; "
        "the cores minus one leaves the event loop a core, faster but with other scores)",
    )
    worker.add_argument(
        "--trace", type=Path, default=None, help="append per-batch stage times to this JSON-lines file (benchmarks)"
    )
    worker.add_argument(
        "--score-methods",
        type=_methods,
        default=DEFAULT_METHODS,
        metavar="METHODS",
        help=f"comma-separated methods each slice is scored with before it is trained on: raie and any of "
        f"{', '.join(SCORED_METHODS[1:])}; lora, replay and lwf each train an adapter per slice too "
        f"(default: {','.join(DEFAULT_METHODS)})",
    )


def _add_web_arguments(worker: argparse.ArgumentParser) -> None:
    web = worker.add_argument_group("recommendations (HTTP)")
    web.add_argument(
        "--web-port",
        type=_port,
        default=None,
        help="serve GET /recommendations/{user_id}?k=10, /health and /state on this port (default: no web server)",
    )
    web.add_argument(
        "--web-host",
        default=WorkerSettings.web_host,
        help=f"the address other workers forward to, and the interface to listen on "
        f"(default {WorkerSettings.web_host})",
    )
    web.add_argument("--web-bind", default=None, help="listen on this interface instead (a container: 0.0.0.0)")
    web.add_argument(
        "--stream-niceness",
        type=at_least(int, 0, "5"),
        default=WorkerSettings.stream_niceness,
        help="CPU niceness of the stream once the endpoint runs, 0..19 "
        f"(default {WorkerSettings.stream_niceness}: requests go first; 0: equal)",
    )


def _port(text: str) -> int:
    port = at_least(int, 1, "6066")(text)
    if port > MAX_PORT:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port: use 1..{MAX_PORT}, e.g. 6066")
    return port


def _add_pool_arguments(worker: argparse.ArgumentParser) -> None:
    pool = worker.add_argument_group("adapter training (the Ray pool)")
    pool.add_argument(
        "--trainer",
        choices=("ray", "in-process"),
        default="ray",
        help="run adapter jobs on Ray (default) or one at a time in this process",
    )
    pool.add_argument("--ray-address", default=None, help="join this Ray cluster (default: a local Ray on 127.0.0.1)")
    pool.add_argument(
        "--ray-cpus", type=at_least(int, 1, "2"), default=None, help="CPUs of the local Ray (default: all cores)"
    )
    pool.add_argument(
        "--train-concurrency",
        type=at_least(int, 1, "2"),
        default=RayPoolConfig.max_concurrent_jobs,
        help=f"jobs running at once, one actor each (default {RayPoolConfig.max_concurrent_jobs})",
    )
    pool.add_argument(
        "--job-cpus", type=above(float, 0.0, "1"), default=RayPoolConfig.cpus_per_job, help="num_cpus of each job"
    )
    pool.add_argument(
        "--job-gpus",
        type=at_least(float, 0.0, "0.25"),
        default=RayPoolConfig.gpus_per_job,
        help="num_gpus of each job: 0 on CPU, e.g. 0.25",
    )
    pool.add_argument("--job-timeout-s", type=above(float, 0.0, "1800"), default=RayPoolConfig.job_timeout_s)
    pool.add_argument(
        "--job-retries",
        type=at_least(int, 0, "2"),
        default=RayPoolConfig.max_retries,
        help="attempts after a job's first",
    )
    pool.add_argument(
        "--inject-failure",
        action="append",
        default=[],
        metavar="[SLICE/]ADAPTER[:ATTEMPTS]",
        help="make the first ATTEMPTS (default 1) attempts of ADAPTER's jobs (in SLICE only, if given) fail, "
        "to see retries and failure reports",
    )


def pool_config(args: argparse.Namespace) -> RayPoolConfig:
    if args.inject_failure and args.trainer != "ray":
        raise PoolConfigError("--inject-failure acts on the Ray pool's jobs: drop it or use --trainer ray")
    return RayPoolConfig(
        address=args.ray_address,
        num_cpus=args.ray_cpus,
        max_concurrent_jobs=args.train_concurrency,
        cpus_per_job=args.job_cpus,
        gpus_per_job=args.job_gpus,
        job_timeout_s=args.job_timeout_s,
        max_retries=args.job_retries,
        inject_failures=parse_injected_failures(args.inject_failure),
    )


def worker_command(args: argparse.Namespace) -> int:
    settings = worker_settings(args)
    start_services(settings)
    # Imported here: faust loads only when the worker really runs.
    from streams.worker import run_worker

    run_worker(settings)
    return 0


def worker_settings(args: argparse.Namespace) -> WorkerSettings:
    """Everything the worker needs, checked, without contacting anything."""
    try:
        check_root(args.store)  # what Store.open would refuse, refused before the broker is reached
    except StoreError as error:
        raise ConfigError("--store", str(error), "pass an empty or new directory, or a raie store") from None
    settings = WorkerSettings(
        args.bootstrap,
        args.store,
        resolve_config(args.dataset, args.config, args.backbone, args.overrides),
        args.backbone,
        args.seed,
        watermark=watermark(args.slice_origin_ms, args.slice_days),
        trainer=args.trainer,
        pool=pool_config(args),
        score_methods=args.score_methods,
        web_port=args.web_port,
        web_host=args.web_host,
        web_bind=args.web_bind,
        stream_niceness=args.stream_niceness,
    )
    if args.app_id is not None:
        settings = replace(settings, app_id=args.app_id)
    if args.batch is not None:
        settings = replace(settings, ingress_batch=args.batch)
    if args.linger_ms is not None:
        settings = replace(settings, ingress_linger_s=args.linger_ms / 1000)
    if args.commit_ms is not None:
        settings = replace(settings, commit_interval_s=args.commit_ms / 1000)
    if args.torch_threads is not None:
        settings = replace(settings, torch_threads=args.torch_threads)
    if args.trace is not None:
        settings = replace(settings, trace=args.trace)
    return settings


def watermark(origin_ms: int, slice_days: float | None) -> Watermark | None:
    if slice_days is None:
        return None
    if slice_days * DAY_MS > ROUTED_WINDOWS_RETENTION_MS:
        # An open slice's windows wait un-acked on routed-windows until it closes; the broker
        # would delete the oldest of a longer slice before the editor could use them.
        raise ConfigError(
            "--slice-days",
            f"{slice_days} days is longer than routed-windows keeps records "
            f"({ROUTED_WINDOWS_RETENTION_MS / DAY_MS:g} days)",
            f"use at most {ROUTED_WINDOWS_RETENTION_MS / DAY_MS:g}, or raise ROUTED_WINDOWS_RETENTION_MS "
            "in streams/topic_names.py and the topic's retention.ms together",
        )
    try:
        return Watermark(origin_ms, round(slice_days * DAY_MS))
    except ConfigError:  # positive, but shorter than the millisecond that event times count in
        raise ConfigError("--slice-days", f"{slice_days} days is under a millisecond", "use e.g. 7") from None


def start_services(settings: WorkerSettings) -> None:
    """Reach the broker, then start or join Ray: runtime failures (exit 1), each before the slower next step."""
    from streams.admin import ensure_pipeline_topics, ensure_topics

    ensure_topics(settings.bootstrap)
    ensure_pipeline_topics(settings.bootstrap, settings.app_id)
    if settings.trainer == "ray":
        start_ray(settings.pool)


def start_ray(pool: RayPoolConfig) -> None:
    """Start (or join) Ray now, so that failing to is a one-line error; the worker's
    own ``connect`` later finds it running and only checks its resources."""
    from workers.ray_runtime import connect

    where = f"the Ray cluster at {pool.address}" if pool.address else "a local Ray"
    try:
        connect(pool)
    except RAY_START_ERRORS as error:
        cause = str(error).strip().splitlines()[:1] or [""]  # Ray's messages can run to pages
        raise RuntimeFailure(
            f"could not start {where} ({type(error).__name__}: {cause[0]}); "
            "check --ray-address, free memory and /tmp/ray, or use --trainer in-process"
        ) from error


def _methods(text: str) -> tuple[str, ...]:
    try:
        return check_methods(tuple(m.strip() for m in text.split(",") if m.strip()))
    except ConfigError as error:
        raise argparse.ArgumentTypeError(f"{error.problem} ({error.fix})") from error
