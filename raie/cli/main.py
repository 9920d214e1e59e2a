"""Entry point of the ``raie`` console script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from raie import __version__
from raie.cli import adapters, data, experiment, metrics, recommend, regions
from raie.errors import RaieError, RuntimeFailure

USAGE_ERROR = 2
"""Exit status for bad input, as argparse uses for bad arguments."""

RUNTIME_FAILURE = 1
"""Exit status when the input was fine but a service it needs failed (broker down, Ray not starting)."""

OWN_PACKAGES = frozenset({"raie", "streams", "workers", "schemas"})
"""Top-level packages of this project. A plugin that fails to import one of
them is a bug to show, not a missing optional dependency to step around."""

COMMAND_GROUP = "raie.commands"
"""Entry-point group of commands that live outside ``raie/``: each names a module
with ``add_parser(subparsers)``. This is how ``streams/`` adds publish and replay
without ``raie/`` ever importing kafka, faust or ray."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raie", description="RAIE Stream: region-aware incremental editing")
    parser.add_argument("--version", action="version", version=f"raie {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (experiment, data, metrics, regions, adapters, recommend):
        module.add_parser(subparsers)
    for plugin in sorted(entry_points(group=COMMAND_GROUP), key=lambda point: point.name):
        try:
            command = plugin.load()
        except ImportError as error:
            if not missing_third_party(error):
                raise
            # A plugin whose dependencies are missing must not take the built-in commands down with it.
            print(f"raie: command '{plugin.name}' unavailable: {error}", file=sys.stderr)
            continue
        command.add_parser(subparsers)
    return parser


def missing_third_party(error: ImportError) -> bool:
    """True when ``error`` is an uninstalled package of someone else's, not a fault in our own code."""
    if not isinstance(error, ModuleNotFoundError) or error.name is None:
        return False  # e.g. "cannot import name X": a module was found but is broken
    return error.name.partition(".")[0] not in OWN_PACKAGES


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except RaieError as error:
        print(f"raie {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except RuntimeFailure as error:
        print(f"raie {args.command}: failed: {error}", file=sys.stderr)
        return RUNTIME_FAILURE
    return status


if __name__ == "__main__":
    sys.exit(main())
