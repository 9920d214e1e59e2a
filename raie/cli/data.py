"""``raie data stats`` and ``raie data synth``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raie.cli.common import add_data_arguments, resolve_config
from raie.data.dataset import load_dataset
from raie.data.synthetic import SyntheticConfig, write_synthetic_yelp
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
    synth = commands.add_parser("synth", help="write a synthetic Yelp-layout dataset with drift")
    synth.add_argument("--out", required=True, type=Path, help="folder to write the two JSON-lines files into")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--users", type=int, default=None, help="number of users (default: generator's)")
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
    config = (
        SyntheticConfig(seed=args.seed) if args.users is None else SyntheticConfig(seed=args.seed, n_users=args.users)
    )
    summary = write_synthetic_yelp(args.out, config)
    behaviours = {b.value: list(summary.behaviours.values()).count(b) for b in set(summary.behaviours.values())}
    print(
        f"wrote {args.out}: {summary.n_users} users {behaviours}, {summary.n_businesses} businesses, "
        f"{summary.n_reviews} reviews ({summary.n_positive_reviews} with stars >= 4), "
        f"{len(summary.adopters)} adopters of the new interest group"
    )
    return 0
