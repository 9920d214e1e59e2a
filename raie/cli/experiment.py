"""``raie experiment``: the offline protocol for several methods and seeds."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from raie.backbones import backbone_names
from raie.cli.common import add_data_arguments, csv_list, int_list, resolve_config
from raie.cli.data import report_data
from raie.config import ExperimentConfig
from raie.errors import ConfigError
from raie.experiment import ExperimentRequest, prepare_data, run_experiment, scored_windows
from raie.metrics import target_kinds
from raie.online.slice_training import PromotionDecision
from raie.report import (
    baseline_differences_table,
    cost_table,
    differences_table,
    results_table,
    target_kind_table,
)
from raie.store import Store
from raie.strategies import RAIE, strategy_names


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    experiment = subparsers.add_parser("experiment", help="run methods under the offline S/F/T protocol")
    add_data_arguments(experiment)
    experiment.add_argument("--backbone", default="sasrec", choices=backbone_names())
    experiment.add_argument("--methods", type=csv_list, default=("base", "lora"), help="comma-separated")
    experiment.add_argument("--seeds", type=int_list, default=(0,), help="comma-separated integers")
    experiment.add_argument("--store", type=Path, default=Path("var/store"), help="store directory")
    experiment.add_argument(
        "--k", type=int, default=None, help="RAIE's number of Set-up regions (overrides regions.regions; for K sweeps)"
    )
    experiment.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's); recorded in run_manifests"
    )
    experiment.set_defaults(handler=experiment_command)


def with_region_count(config: ExperimentConfig, k: int) -> ExperimentConfig:
    try:
        return dataclasses.replace(config, regions=dataclasses.replace(config.regions, regions=k))
    except ConfigError as error:
        raise ConfigError("--k", error.problem, error.fix) from None


def promotion_lines(decisions: list[PromotionDecision]) -> list[str]:
    """One line per global or baseline version, and one for the region versions (judged together)."""
    lines = [f"{d.adapter} v{d.candidate_version} {d.decision}: {d.reason}" for d in decisions if not d.is_region]
    regions = [d for d in decisions if d.is_region]
    if regions:
        verdict = "promoted" if regions[0].promoted else "rejected, the previous versions serve"
        lines.append(f"{len(regions)} region versions {verdict}: {regions[0].reason}")
    return lines


def experiment_command(args: argparse.Namespace) -> int:
    known = strategy_names()
    unknown = [m for m in args.methods if m not in known]
    if unknown:
        raise ConfigError("--methods", f"unknown method(s) {unknown}", f"choose from {known}")
    config = resolve_config(args.dataset, args.config, args.backbone, args.overrides)
    if args.k is not None:
        config = with_region_count(config, args.k)
    request = ExperimentRequest(
        dataset=args.dataset,
        data_dir=args.data_dir,
        backbone=args.backbone,
        methods=tuple(dict.fromkeys(args.methods)),
        seeds=tuple(dict.fromkeys(args.seeds)),
        store_dir=args.store,
        config=config,
        threads=args.threads,
    )
    # The data is checked (and its funnel shown) before any model trains.
    data = prepare_data(request)
    report_data(data, "experiment")
    outcome = run_experiment(request, data)
    with Store.open(args.store) as store:
        print(f"run {outcome.run_id}: {args.dataset} / {args.backbone}, seeds {list(request.seeds)}")
        print(results_table(store, outcome.run_id, request.methods))
        costs = cost_table(store, outcome.run_id, request.methods)
        if costs:
            print(costs)
    differences = differences_table(outcome.rankings, request.methods, request.seeds)
    if differences:
        print(differences)
    # RAIE's target is the best single-adapter baseline, not Base.
    against_rival = baseline_differences_table(outcome.rankings, request.methods, request.seeds)
    if against_rival:
        print(against_rival)
    # Every other method against RAIE: quality beside the cost table above.
    against_raie = differences_table(outcome.rankings, request.methods, request.seeds, baseline=RAIE)
    if against_raie:
        print(against_raie)
    for (seed, line), decisions in sorted(outcome.promotions.items()):
        for text in promotion_lines(decisions):
            print(f"promotion, seed {seed}, {line} line: {text}")
    kinds = target_kinds(data, scored_windows(data)["T"])
    print(target_kind_table(outcome.rankings, request.methods, request.seeds, kinds))
    print(
        f"wall time {outcome.seconds:.1f} s; rows in {args.store}/ table experiment_results, run_id '{outcome.run_id}'"
    )
    return 0
