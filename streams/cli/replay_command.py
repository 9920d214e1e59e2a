"""``raie replay``: replay a data set's preprocessed timeline, or a store's slices, to Kafka with slice marks."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from raie.cli.common import above, add_data_arguments, at_least, float_list, resolve_config
from raie.errors import ConfigError, DataError
from raie.store import Store
from streams.cli.options import bootstrap_servers
from streams.connect import DEFAULT_BOOTSTRAP
from streams.replay_timeline import check_slices


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="replay a data set (or a store's slices) to Kafka as a stream, with slice marks",
        description="Send the item catalogue, then the preprocessed interactions in time order, "
        "closing each slice with a mark on every partition. With --from-store, re-publish the "
        "interactions a stream stored for the given slices instead.",
    )
    add_data_arguments(replay, required=False)
    replay.add_argument(
        "--bootstrap",
        type=bootstrap_servers,
        default=DEFAULT_BOOTSTRAP,
        help=f"broker address (default {DEFAULT_BOOTSTRAP})",
    )
    replay.add_argument(
        "--speed",
        type=above(float, 0.0, "3600"),
        default=None,
        help="X times real time between events, each pause capped at 1 s (default: as fast as possible)",
    )
    replay.add_argument(
        "--slices",
        type=_slices,
        default=None,
        help="time quantiles where slices end, e.g. 0.5,0.8 (default: the config's protocol.cutoffs)",
    )
    stored = replay.add_argument_group("replay from a store")
    stored.add_argument("--from-store", type=Path, default=None, metavar="DIR", help="a store a stream wrote")
    stored.add_argument(
        "--slice",
        type=at_least(int, 0, "1"),
        action="append",
        dest="stored_slices",
        metavar="N",
        help="a stored slice to re-publish; repeat for several, sent in the order given (default: every one)",
    )
    stored.add_argument("--no-marks", action="store_true", help="send the events only, no slice marks")
    replay.set_defaults(handler=replay_command)


def replay_command(args: argparse.Namespace) -> int:
    # Imported here: kafka loads only when this command runs.
    from streams.admin import ensure_topics
    from streams.replay import replay

    # Progress from streams.* at INFO; kafka-python's INFO is connection chatter, so only its warnings.
    logging.basicConfig(level=logging.WARNING, format="raie replay: %(message)s", stream=sys.stderr)
    logging.getLogger("streams").setLevel(logging.INFO)
    # kafka-python's I/O loop warns when a task waits on the GIL that the
    # replaying thread holds; harmless here and nothing a user can act on.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    if args.from_store is not None:
        return _replay_store(args)
    if args.stored_slices or args.no_marks:
        raise ConfigError("--slice", "--slice and --no-marks pick slices of a store", "add --from-store DIR")
    if args.dataset is None or args.data_dir is None:
        raise ConfigError("--dataset", "a replay needs a data set or a store", "pass --dataset and --data-dir")
    if not args.data_dir.is_dir():  # checked before the broker is reached, as everything a user typed
        raise DataError(args.data_dir, "data directory does not exist", fix="pass --data-dir DIR")
    config = resolve_config(args.dataset, args.config, overrides=args.overrides)
    slices = args.slices if args.slices is not None else config.protocol.cutoffs
    ensure_topics(args.bootstrap)
    report = replay(args.dataset, args.data_dir, args.bootstrap, speed=args.speed, slices=slices, config=config)
    print(
        f"replayed {report.events} events of {args.dataset} in {report.slices} slices "
        f"({report.marks} slice marks) in {report.seconds:.1f} s"
    )
    return 0


def _replay_store(args: argparse.Namespace) -> int:
    from streams.admin import ensure_topics
    from streams.store_replay import replay_from_store

    if args.dataset is not None or args.data_dir is not None or args.slices is not None:
        raise ConfigError("--from-store", "replays what the store holds", "drop --dataset, --data-dir and --slices")
    if args.config is not None or args.overrides:
        raise ConfigError("--from-store", "replays what the store holds, with no config", "drop --config and --set")
    check_stored_slices(args.from_store, args.stored_slices)
    ensure_topics(args.bootstrap)
    report = replay_from_store(args.from_store, args.stored_slices, args.bootstrap, marks=not args.no_marks)
    which = (
        "every stored slice" if args.stored_slices is None else "slice(s) " + ", ".join(map(str, args.stored_slices))
    )
    print(
        f"re-published {report.events} stored events of {which} ({report.marks} slice marks) in {report.seconds:.1f} s"
    )
    return 0


def check_stored_slices(store_dir: Path, wanted: list[int] | None) -> None:
    """Refuse a store that is not one, or a --slice it does not hold, before the broker is reached.

    replay_from_store checks the same for callers that skip the CLI; here it must come
    first, because the topics are created (the broker contacted) before it runs."""
    from streams.store_replay import stored_slices

    with Store.open(store_dir, create=False, read_only=True) as store:
        available = stored_slices(store)
    missing = [s for s in wanted or () if s not in available]
    if missing:
        listed = ", ".join(map(str, available)) or "none"
        problem = f"{store_dir} holds no interactions of slice {missing[0]} (stored slices: {listed})"
        raise ConfigError("--slice", problem, "pick stored slices, or drop --slice to send every one")


def _slices(text: str) -> tuple[float, ...]:
    slices = float_list(text)
    try:
        check_slices(slices)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(f"{error.problem} ({error.fix})") from error
    return slices
