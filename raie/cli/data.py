"""``raie data stats`` and ``raie data synth``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raie.cli.common import add_data_arguments, at_least, resolve_config
from raie.data.dataset import load_dataset
from raie.data.synthetic_local import SPARSE_USERS_PER_GROUP
from raie.data.synthetic_scenarios import DEFAULT_SCENARIO, Scenario, SynthRequest, write_scenario
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.funnel import data_funnel, funnel_warnings, require_usable
from raie.protocol.preprocess import preprocess
from raie.protocol.stats import funnel_report


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = subparsers.add_parser("data", help="inspect or generate data")
    commands = data.add_subparsers(dest="data_command", required=True)
    stats = commands.add_parser("stats", help="users, items, interactions and windows per block")
    add_data_arguments(stats)
    stats.set_defaults(handler=stats_command)
    synth = commands.add_parser(
        "synth",
        help="write a synthetic Yelp-layout dataset with drift",
        description="Write a synthetic data set in the official Yelp layout. Scenario local-drift (default): "
        "interest groups that stay, shift to other businesses, or appear with new businesses; the true group "
        "of every user and business goes to groups.jsonl beside the Yelp files. Scenario user-drift: each "
        "user's own preference drifts (stable, gradual, abrupt users).",
    )
    synth.add_argument("--out", required=True, type=Path, help="folder to write the JSON-lines files into")
    synth.add_argument(
        "--scenario",
        type=Scenario,
        choices=list(Scenario),
        default=DEFAULT_SCENARIO,
        help=f"what drifts (default: {DEFAULT_SCENARIO})",
    )
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--users",
        type=at_least(int, 1, "300"),
        default=None,
        help="local-drift: users per group; user-drift: users in all (default: the scenario's)",
    )
    synth.add_argument(
        "--sparse",
        action="store_true",
        help="local-drift: Yelp-like sparsity, most users under 10 positives per block "
        f"(default users per group becomes {SPARSE_USERS_PER_GROUP})",
    )
    for kind in ("stable", "shifting", "new"):
        synth.add_argument(
            f"--{kind}-groups",
            type=at_least(int, 0, "2"),
            default=None,
            help=f"local-drift: number of {kind} interest groups (default: the scenario's)",
        )
    synth.set_defaults(handler=synth_command)


def stats_command(args: argparse.Namespace) -> int:
    config = resolve_config(args.dataset, args.config, overrides=args.overrides)
    dataset = load_dataset(args.dataset, args.data_dir)
    # Printed first, so that a preprocessing step that leaves nothing is seen against the raw size.
    print(
        f"{args.dataset} at {args.data_dir}: {dataset.interactions.num_rows} raw interactions, "
        f"{dataset.items.num_rows} items; L={config.protocol.context_len}, cutoffs={list(config.protocol.cutoffs)}",
        flush=True,
    )
    data = build_protocol(preprocess(dataset.interactions, config.preprocess), config.protocol)
    report_data(data, "data")
    return 0


def report_data(data: ProtocolData, command: str) -> None:
    """Print what survives each step and block, warn on stderr, and stop when nothing is left.

    Raises ConfigError (exit 2) when a block is empty or Set-up or scoring has no window.
    """
    funnel = data_funnel(data)
    print(funnel_report(funnel), flush=True)
    for warning in funnel_warnings(funnel):
        print(f"raie {command}: warning: {warning.message}", file=sys.stderr)
    require_usable(funnel)


def synth_command(args: argparse.Namespace) -> int:
    request = SynthRequest(
        scenario=args.scenario,
        seed=args.seed,
        users=args.users,
        sparse=args.sparse,
        stable_groups=args.stable_groups,
        shifting_groups=args.shifting_groups,
        new_groups=args.new_groups,
    )
    print(write_scenario(args.out, request))
    return 0
