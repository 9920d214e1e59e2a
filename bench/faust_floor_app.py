"""A do-nothing Faust agent on ``interactions``: the floor every Faust pipeline stands on.

``bench/stream_throughput.py`` starts it as a subprocess with a fresh app id (a
fresh consumer group, which reads the topic from its start) and stops it once
it has written its result. It runs what ``raie worker`` runs up to the agent
and nothing after it: the same app class (``LosslessApp``), the same broker
settings and the ingress's batching (``take_events``, 1,024 within 5 ms by default); its
agent only counts the records. The bench's pipeline figure divided by this
one is the share of Faust's own speed the pipeline keeps.

Only the *measured* records count: those at or after ``--from-offsets`` in
their partition (the bench's preloaded copies, after the Set-up slice). When
the ``--expect``-th one has been read, ``--out`` gets, as JSON, the wall-clock
milliseconds at which the first and that last measured record were read.

    python bench/faust_floor_app.py --bootstrap 127.0.0.1:29092 --app-id floor-1 \\
        --expect 97160 --from-offsets 0:8101,1:8090,2:8105 --out var/floor-1.json worker
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from streams.flow_control import LosslessApp
from streams.local_broker import REPO
from streams.topic_names import INTERACTIONS

DEFAULT_BATCH = 1024
DEFAULT_LINGER_MS = 5.0
"""``raie worker``'s defaults (``--batch``, ``--linger-ms``); the bench passes the worker's own
values. Not imported from streams.settings: that loads torch, which the floor has no use for."""
SESSION_TIMEOUT_S = 10.0
"""As streams/app.py: the same group membership settings as the worker."""
DEFAULT_DATADIR = REPO / "var" / "bench-stream" / "faust-floor"
"""Faust makes an (empty) table directory even with memory:// tables; keep it under var/."""


@dataclass
class FloorCount:
    """Counts measured records and writes the result once ``expect`` of them were read."""

    start: dict[int, int]
    """Partition -> first measured offset; a partition not named counts from offset 0."""
    expect: int
    out: Path
    read: int = 0
    measured: int = 0
    first_ms: float | None = None
    written: bool = False

    def take(self, events: Sequence[Any]) -> None:
        now = time.time() * 1000
        self.read += len(events)
        fresh = sum(1 for e in events if e.message.offset >= self.start.get(e.message.partition, 0))
        if fresh and self.first_ms is None:
            self.first_ms = now
        self.measured += fresh
        if self.measured >= self.expect and not self.written:
            self._write(now)

    def _write(self, last_ms: float) -> None:
        result = {"first_ms": self.first_ms, "last_ms": last_ms, "measured": self.measured, "read": self.read}
        partial = self.out.with_suffix(".partial")
        partial.write_text(json.dumps(result))
        partial.replace(self.out)  # atomic: the bench, polling for the file, never reads half of it
        self.written = True


def build_app(args: argparse.Namespace, datadir: Path, count: FloorCount) -> faust.App:
    app = LosslessApp(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=str(datadir),
        broker_session_timeout=SESSION_TIMEOUT_S,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        web_enabled=False,
    )
    topic = app.topic(INTERACTIONS, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="floor")
    async def floor(stream: Any) -> None:
        async for events in stream.take_events(args.batch, within=args.linger_ms / 1000):
            count.take(events)

    return app


def parse_offsets(text: str) -> dict[int, int]:
    """``"0:8101,1:8090"`` -> ``{0: 8101, 1: 8090}``."""
    pairs = (item.split(":", 1) for item in text.split(",") if item.strip())
    return {int(partition): int(offset) for partition, offset in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--app-id", required=True, help="a fresh one per run: a fresh consumer group")
    parser.add_argument("--expect", type=int, required=True, help="measured records to read before writing --out")
    parser.add_argument("--from-offsets", type=parse_offsets, default={}, help="PARTITION:OFFSET,...")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datadir", type=Path, default=DEFAULT_DATADIR)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="records per take_events batch")
    parser.add_argument("--linger-ms", type=float, default=DEFAULT_LINGER_MS, help="longest wait for a batch")
    # Faust apps are usually started as `app.py worker`; accepted so that the command reads as one.
    parser.add_argument("command", nargs="?", choices=("worker",), default="worker")
    args = parser.parse_args()
    count = FloorCount(args.from_offsets, args.expect, args.out)
    datadir = args.datadir / args.app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = build_app(args, datadir, count)
    # faust.Worker rather than app.main(): no CLI parsing of our own options; SIGTERM stops it cleanly.
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
