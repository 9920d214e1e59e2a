"""``raie regions report``: how one slice's edits changed RAIE's regions, as text and a PNG map.

Read-only on the store, so it works while an experiment is still writing.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from raie.errors import ConfigError
from raie.regions.region_map import write_region_map
from raie.regions.report import DEFAULT_METHOD, ReportKey, format_report, load_report, resolve_key
from raie.store import Store

REPORTS_DIR = "reports"
"""Sub-folder of the store that default plots go to, beside the tables they show."""

UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
"""Run ids and method names go into a file name; anything else becomes '_'."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    regions = subparsers.add_parser("regions", help="inspect RAIE's knowledge regions")
    actions = regions.add_subparsers(dest="action", required=True)
    report = actions.add_parser("report", help="per-region changes of one slice's edits, plus a PNG map")
    report.add_argument("--store", required=True, type=Path, help="store directory")
    report.add_argument("--run", default=None, help="run id (default: the run with the newest results)")
    report.add_argument("--method", default=DEFAULT_METHOD, help=f"method (default: {DEFAULT_METHOD})")
    report.add_argument("--seed", type=int, default=None, help="seed (default: the smallest present)")
    report.add_argument("--slice", type=int, default=None, dest="slice_index", help="slice (default: the smallest)")
    report.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="PNG path (default: <store>/reports/regions-<run>-<method>-s<seed>-slice<slice>.png)",
    )
    report.set_defaults(handler=report_command)


def default_plot_path(store_root: Path, key: ReportKey) -> Path:
    """Where the map goes without ``--plot``: one file per (run, method, seed, slice)."""
    run = UNSAFE_NAME_CHARS.sub("_", key.run_id)
    method = UNSAFE_NAME_CHARS.sub("_", key.method)
    return store_root / REPORTS_DIR / f"regions-{run}-{method}-s{key.seed}-slice{key.slice_index}.png"


def report_command(args: argparse.Namespace) -> int:
    with Store.open(args.store, create=False, read_only=True) as store:
        key = resolve_key(store, run_id=args.run, method=args.method, seed=args.seed, slice_index=args.slice_index)
        report = load_report(store, key)
        plot: Path = args.plot if args.plot is not None else default_plot_path(store.root, key)
    print(format_report(report))
    try:
        write_region_map(report, plot)
    except OSError as error:
        raise ConfigError("--plot", f"cannot write {plot} ({error})", "pass --plot with a writable path") from error
    print(f"region map written to {plot}")
    return 0
