"""``raie publish``: validate a JSON-lines or CSV file of interactions and send it to Kafka."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raie.errors import DataError
from streams.cli.options import bootstrap_servers, kafka_name
from streams.connect import DEFAULT_BOOTSTRAP
from streams.topic_names import INTERACTIONS

STDIN = "-"

LISTED_FAILURES = 20
"""Failures printed one per line; the rest are summed up, so a bad file does not flood the terminal."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    publish = subparsers.add_parser(
        "publish",
        help="send interactions (JSON lines or CSV) to Kafka",
        description="Validate every record against Interaction v1, then send the valid ones keyed by user_id. "
        "CSV needs the header event_id,user_id,item_id,rating,ts,source (rating may be empty).",
    )
    publish.add_argument("file", nargs="?", default=STDIN, help="input file, or - for stdin (default)")
    publish.add_argument(
        "--bootstrap",
        type=bootstrap_servers,
        default=DEFAULT_BOOTSTRAP,
        help=f"broker address (default {DEFAULT_BOOTSTRAP})",
    )
    publish.add_argument(
        "--topic", type=kafka_name, default=INTERACTIONS, help=f"topic to send to (default {INTERACTIONS})"
    )
    publish.set_defaults(handler=publish_command)


def publish_command(args: argparse.Namespace) -> int:
    # Imported here: kafka loads only when this command runs.
    from streams.admin import ensure_topics
    from streams.publish import publish

    source = sys.stdin.buffer if args.file == STDIN else Path(args.file)
    if isinstance(source, Path) and not source.is_file():
        # Checked before connecting: a typo in the path should not wait on the broker.
        raise DataError(source, "no such file", fix="pass an existing JSON-lines or CSV file, or - for stdin")
    # Creating the topics first keeps a broker that auto-creates topics from
    # making `interactions` with one partition on the first send.
    ensure_topics(args.bootstrap)
    report = publish(source, args.bootstrap, topic=args.topic)
    print(f"sent {report.sent}, failed {report.failed}")
    for line_no, reason in report.failures[:LISTED_FAILURES]:
        print(f"line {line_no}: {reason}")
    if report.failed > LISTED_FAILURES:
        print(f"... and {report.failed - LISTED_FAILURES} more failures")
    return 0 if report.ok else 1
