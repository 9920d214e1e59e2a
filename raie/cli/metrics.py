"""``raie metrics``: any SQL over the store, printed as a table, CSV or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from raie.store import Store
from raie.tabular import format_rows


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    metrics = subparsers.add_parser("metrics", help="query the store with SQL")
    metrics.add_argument("--store", required=True, type=Path, help="store directory")
    metrics.add_argument("--sql", required=True, help="a DuckDB query over the store's views")
    metrics.add_argument("--format", choices=("table", "csv", "json"), default="table")
    metrics.set_defaults(handler=metrics_command)


def metrics_command(args: argparse.Namespace) -> int:
    # Read-only: works while another process (an experiment, the stream) writes.
    with Store.open(args.store, create=False, read_only=True) as store:
        print(format_rows(store.query(args.sql), args.format))
    return 0
