"""Entry point of the ``raie`` console script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from raie import __version__
from raie.cli import data, experiment, metrics, regions
from raie.errors import RaieError

USAGE_ERROR = 2
"""Exit status for bad input, as argparse uses for bad arguments."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raie", description="RAIE Stream: region-aware incremental editing")
    parser.add_argument("--version", action="version", version=f"raie {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (experiment, data, metrics, regions):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except RaieError as error:
        print(f"raie {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    return status


if __name__ == "__main__":
    sys.exit(main())
