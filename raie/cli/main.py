"""Entry point of the ``raie`` console script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from raie import __version__
from raie.cli import data, experiment, metrics, regions
from raie.errors import RaieError

USAGE_ERROR = 2
"""Exit status for bad input, as argparse uses for bad arguments."""

COMMAND_GROUP = "raie.commands"
"""Entry-point group of commands that live outside ``raie/``: each names a module
with ``add_parser(subparsers)``. This is how ``streams/`` adds publish and replay
without ``raie/`` ever importing kafka, faust or ray."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raie", description="RAIE Stream: region-aware incremental editing")
    parser.add_argument("--version", action="version", version=f"raie {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (experiment, data, metrics, regions):
        module.add_parser(subparsers)
    for plugin in sorted(entry_points(group=COMMAND_GROUP), key=lambda point: point.name):
        try:
            command = plugin.load()
        except ImportError as error:
            # A plugin whose dependencies are missing must not take the built-in commands down with it.
            print(f"raie: command '{plugin.name}' unavailable: {error}", file=sys.stderr)
            continue
        command.add_parser(subparsers)
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
