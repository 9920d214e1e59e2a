"""``raie metrics``: SQL over the store, canned per-slice reports, and a plot of them."""

from __future__ import annotations

import argparse
from pathlib import Path

from raie.errors import ConfigError
from raie.slice_plot import write_slice_plot
from raie.slice_reports import REPORTS, report, run_report
from raie.store import Store
from raie.tabular import FORMATS, format_rows


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    described = "; ".join(f"{name}: {r.description}" for name, r in REPORTS.items())
    metrics = subparsers.add_parser(
        "metrics",
        help="query the store: SQL, canned reports, a plot",
        description=f"Reports: {described}.",
    )
    metrics.add_argument("--store", required=True, type=Path, help="store directory")
    what = metrics.add_mutually_exclusive_group()
    what.add_argument("--sql", help="a DuckDB query over the store's views")
    what.add_argument("--report", choices=tuple(REPORTS), help="a canned per-slice report")
    metrics.add_argument("--run", default=None, help="only this run id (reports and plot; default: every run)")
    metrics.add_argument("--plot", type=Path, default=None, help="also draw Recall@10 and op counts per slice to PNG")
    metrics.add_argument("--show-sql", action="store_true", help="print the report's SQL instead of running it")
    metrics.add_argument("--format", choices=FORMATS, default="table")
    metrics.set_defaults(handler=metrics_command)


def metrics_command(args: argparse.Namespace) -> int:
    if args.sql is None and args.report is None and args.plot is None:
        raise ConfigError("--sql", "nothing to do", f"pass --sql, --report ({'|'.join(REPORTS)}) or --plot FILE.png")
    if args.show_sql:
        if args.report is None:
            raise ConfigError("--show-sql", "shows a report's SQL", "pass --report NAME with it")
        print(report(args.report).sql.strip())
        return 0
    # Read-only: works while another process (an experiment, the stream) writes.
    with Store.open(args.store, create=False, read_only=True) as store:
        if args.sql is not None:
            print(format_rows(store.query(args.sql), args.format))
        if args.report is not None:
            print(format_rows(run_report(store, args.report, args.run), args.format))
        if args.plot is not None:
            try:
                path = write_slice_plot(store, args.plot, args.run)
            except OSError as error:
                raise ConfigError("--plot", f"cannot write {args.plot} ({error})", "pass a writable path") from error
            print(f"plot written to {path}")
    return 0
