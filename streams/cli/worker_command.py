"""``raie worker``: the Faust stream worker (ingress, store sink, region editor)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from raie.cli.common import resolve_config
from raie.data.dataset import dataset_names
from raie.errors import ConfigError
from raie.online.prequential import DEFAULT_METHODS, SCORED_METHODS, check_methods
from streams.connect import DEFAULT_BOOTSTRAP
from streams.settings import WorkerSettings
from workers.pool_config import PoolConfigError, RayPoolConfig, parse_injected_failures

DAY_MS = 24 * 60 * 60 * 1000


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run the stream worker until SIGTERM",
        description="Consume `interactions`, window, embed, route and edit regions per slice; "
        "write interactions and slice results to the store.",
    )
    worker.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP, help=f"broker address (default {DEFAULT_BOOTSTRAP})")
    worker.add_argument("--store", required=True, type=Path, help="store directory (created if absent)")
    worker.add_argument("--dataset", default="movielens", choices=dataset_names(), help="which preset to run with")
    worker.add_argument("--config", type=Path, default=None, help="YAML preset (default: configs/<dataset>.yaml)")
    worker.add_argument("--backbone", default="sasrec", help="frozen backbone the stream embeds with")
    worker.add_argument("--seed", type=int, default=0)
    worker.add_argument("--app-id", default=None, help="consumer group and changelog prefix (default raie-stream)")
    worker.add_argument(
        "--slice-days",
        type=float,
        default=None,
        help="close slices by event time every N days (default: only at the replayer's slice marks)",
    )
    worker.add_argument("--slice-origin-ms", type=int, default=0, help="event time where slice 0 starts")
    worker.add_argument(
        "--batch",
        type=int,
        default=None,
        help=f"events per ingress batch, one embedding pass each (default {WorkerSettings.ingress_batch})",
    )
    worker.add_argument(
        "--linger-ms",
        type=float,
        default=None,
        help=f"longest wait for a batch to fill (default {WorkerSettings.ingress_linger_s * 1000:g})",
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
    pool = worker.add_argument_group("adapter training (the Ray pool)")
    pool.add_argument(
        "--trainer",
        choices=("ray", "in-process"),
        default="ray",
        help="run adapter jobs on Ray (default) or one at a time in this process",
    )
    pool.add_argument("--ray-address", default=None, help="join this Ray cluster (default: a local Ray on 127.0.0.1)")
    pool.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local Ray (default: all cores)")
    pool.add_argument(
        "--train-concurrency",
        type=int,
        default=RayPoolConfig.max_concurrent_jobs,
        help=f"jobs running at once, one actor each (default {RayPoolConfig.max_concurrent_jobs})",
    )
    pool.add_argument("--job-cpus", type=float, default=RayPoolConfig.cpus_per_job, help="num_cpus of each job")
    pool.add_argument(
        "--job-gpus", type=float, default=RayPoolConfig.gpus_per_job, help="num_gpus of each job: 0 on CPU, e.g. 0.25"
    )
    pool.add_argument("--job-timeout-s", type=float, default=RayPoolConfig.job_timeout_s)
    pool.add_argument("--job-retries", type=int, default=RayPoolConfig.max_retries, help="attempts after a job's first")
    pool.add_argument(
        "--inject-failure",
        action="append",
        default=[],
        metavar="[SLICE/]ADAPTER[:ATTEMPTS]",
        help="make the first ATTEMPTS (default 1) attempts of ADAPTER's jobs (in SLICE only, if given) fail, "
        "to see retries and failure reports",
    )
    worker.set_defaults(handler=worker_command)


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
    from raie.online.slice_clock import Watermark
    from streams.worker import run_worker

    watermark = None
    if args.slice_days is not None:
        watermark = Watermark(args.slice_origin_ms, int(args.slice_days * DAY_MS))
    config = resolve_config(args.dataset, args.config, args.backbone)
    settings = WorkerSettings(
        args.bootstrap,
        args.store,
        config,
        args.backbone,
        args.seed,
        watermark=watermark,
        trainer=args.trainer,
        pool=pool_config(args),
        score_methods=args.score_methods,
    )
    if args.app_id is not None:
        settings = replace(settings, app_id=args.app_id)
    if args.batch is not None:
        settings = replace(settings, ingress_batch=args.batch)
    if args.linger_ms is not None:
        settings = replace(settings, ingress_linger_s=args.linger_ms / 1000)
    run_worker(settings)
    return 0


def _methods(text: str) -> tuple[str, ...]:
    try:
        return check_methods(tuple(m.strip() for m in text.split(",") if m.strip()))
    except ConfigError as error:
        raise argparse.ArgumentTypeError(f"{error.problem} ({error.fix})") from error
