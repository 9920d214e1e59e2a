"""The parts of bench/stream_throughput.py: contenders, the worker's trace, store checks, the report.

Every contender reports a :class:`Span`: how many measured records it took
and the wall-clock milliseconds at which it was handed the first one and
finished the last one. All of them read in batches of about 1,024 records,
so each figure leaves out about one batch's read time alike.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow.parquet as pq
from aiokafka import AIOKafkaConsumer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from raie.store import Store
from schemas import Interaction
from schemas.interaction_fast import decode_interaction
from streams.topic_names import INTERACTIONS
from streams.worker_process import unbuffered_env

BATCH = 1024
"""Records per read for the bare and decoding consumers: the Faust floor's and the ingress's batch,
so every contender's clock starts after its first batch alike."""
POLL_MS = 1000
READ_WITHIN_S = 600.0
"""Longest a contender may take to read the measured records before the bench gives up."""
FLOOR_APP = Path(__file__).with_name("faust_floor_app.py")
FLOOR_STOP_S = 30.0
"""Faust stops in a few seconds on SIGTERM; after this it is killed."""
STORE_WITHIN_S = 60.0
"""The ingress writes store rows every commit (1 s by default); a loaded box may need longer."""
POLL_S = 0.5
MIN_EPOCH_MS = 10**11
"""1973 counted in ms, year 5138 counted in s: a trace time below it is in seconds (as Faust's
``message.timestamp`` is), and comparing it with milliseconds would match no window."""
LOG_TAIL_LINES = 40


def wall_ms() -> float:
    """Wall clock, as the worker's trace and Kafka's CreateTime count it."""
    return time.time() * 1000


@dataclass(frozen=True)
class Measured:
    """Where the measured records lie on ``interactions``: every contender reads exactly these."""

    start: dict[int, int]
    """Partition -> first measured offset (everything before it is the Set-up slice)."""
    count: int
    ids: frozenset[str]
    published_from_ms: int
    """Wall clock just before the preload: every measured record's CreateTime is at or after it."""
    published_to_ms: int

    def offsets_arg(self) -> str:
        return ",".join(f"{partition}:{offset}" for partition, offset in sorted(self.start.items()))


@dataclass(frozen=True)
class Span:
    records: int
    first_ms: float
    last_ms: float

    @property
    def eps(self) -> float:
        return self.records / max((self.last_ms - self.first_ms) / 1000, 1e-9)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Self:
        return cls(statistics.median(values), min(values), max(values))


# --- bare consume, consume + decode -------------------------------------------------------------


async def consume(bootstrap: str, group: str, measured: Measured, *, decode: bool) -> Span:
    """Read ``interactions`` from its start in a fresh consumer group; time the measured records."""
    consumer = AIOKafkaConsumer(INTERACTIONS, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    await consumer.start()
    try:
        first_ms: float | None = None
        last_ms, seen = 0.0, 0
        deadline = time.monotonic() + READ_WITHIN_S
        while seen < measured.count:
            if time.monotonic() > deadline:
                sys.exit(f"{group}: only {seen} of {measured.count} measured records within {READ_WITHIN_S:.0f} s")
            batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=BATCH)
            now = wall_ms()
            for tp, records in batches.items():
                fresh = _measured_part(records, measured.start.get(tp.partition, 0))
                if decode:
                    for record in fresh:
                        decode_interaction(record.value)
                if fresh and first_ms is None:
                    first_ms = now
                seen += len(fresh)
            last_ms = wall_ms()
        assert first_ms is not None
        return Span(seen, first_ms, last_ms)
    finally:
        await consumer.stop()


def _measured_part(records: list[Any], start: int) -> list[Any]:
    """The records at or after ``start``; a batch's records are in offset order, so most need no check."""
    if not records or records[0].offset >= start:
        return records
    return [r for r in records if r.offset >= start]


# --- the Faust floor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FloorRun:
    span: Span
    rss_peak_mb: float


def run_floor(bootstrap: str, app_id: str, measured: Measured, work: Path, batching: tuple[int, float]) -> FloorRun:
    """``batching``: the worker's (batch, linger ms), for the floor's take_events."""
    out, log = work / f"{app_id}.json", work / f"{app_id}.log"
    command = [
        sys.executable,
        str(FLOOR_APP),
        *("--bootstrap", bootstrap, "--app-id", app_id, "--expect", str(measured.count)),
        *("--from-offsets", measured.offsets_arg(), "--out", str(out), "--datadir", str(work / "faust-floor")),
        *("--batch", str(batching[0]), "--linger-ms", str(batching[1])),
        "worker",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=unbuffered_env())
    try:
        deadline = time.monotonic() + READ_WITHIN_S
        while not out.is_file():
            if process.poll() is not None:
                sys.exit(f"the Faust floor app exited ({process.returncode}){tail(log)}")
            if time.monotonic() > deadline:
                sys.exit(
                    f"the Faust floor app read not all {measured.count} records in {READ_WITHIN_S:.0f} s{tail(log)}"
                )
            time.sleep(POLL_S)
        result = json.loads(out.read_text())
        return FloorRun(Span(int(result["measured"]), result["first_ms"], result["last_ms"]), rss_mb(process.pid)[1])
    finally:
        stop_process(process, FLOOR_STOP_S)


def stop_process(process: subprocess.Popen[bytes], within_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``within_s``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] if log.is_file() else []
    return f"; last lines of {log}:\n" + "\n".join(lines)


# --- the worker's trace -------------------------------------------------------------------------


@dataclass(frozen=True)
class Windows:
    """Per window: its event's CreateTime, when the ingress read it, sent its batch, the editor applied it."""

    published: np.ndarray
    read: np.ndarray
    produced: np.ndarray
    applied: np.ndarray

    def __len__(self) -> int:
        return len(self.published)


@dataclass
class TraceTail:
    """``raie worker --trace`` lines, read as the worker appends them (streams/trace.py)."""

    path: Path
    produced_at: list[int] = field(default_factory=list)
    produced_windows: list[int] = field(default_factory=list)
    published: list[int] = field(default_factory=list)
    read: list[int] = field(default_factory=list)
    produced: list[int] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)
    _offset: int = 0

    def poll(self) -> Self:
        if not self.path.is_file():
            return self
        with self.path.open("rb") as trace:
            trace.seek(self._offset)
            chunk = trace.read()
        whole = chunk.rfind(b"\n") + 1  # the worker may be half way through a line: leave it for later
        self._offset += whole
        for line in chunk[:whole].splitlines():
            self._take(json.loads(line))
        return self

    def _take(self, line: dict[str, Any]) -> None:
        if line["stage"] == "produced":
            self.produced_at.append(line["at_ms"])
            self.produced_windows.append(line["windows"])
        elif line["stage"] == "applied":
            n = line["windows"]
            if n and min(line["published_ms"]) < MIN_EPOCH_MS:
                raise RuntimeError(f"{self.path}: published_ms {line['published_ms'][0]} is not epoch milliseconds")
            self.published += line["published_ms"]
            self.read += line["read_ms"]
            self.produced += [line["produced_ms"]] * n
            self.applied += [line["at_ms"]] * n

    def windows(self, from_ms: float, to_ms: float) -> Windows:
        """The applied windows whose event was published within [from_ms, to_ms]."""
        published = np.asarray(self.published, dtype=np.int64)
        keep = (published >= from_ms) & (published <= to_ms)
        pick = [np.asarray(column, dtype=np.int64)[keep] for column in (self.read, self.produced, self.applied)]
        return Windows(published[keep], *pick)

    def applied_count(self, from_ms: float, to_ms: float) -> int:
        return len(self.windows(from_ms, to_ms))

    def backlog(self, at_ms: float | None = None) -> int:
        """Windows the ingress had sent and the editor not yet applied, at ``at_ms`` (default: now)."""
        at = np.inf if at_ms is None else at_ms
        produced = np.asarray(self.produced_windows)[np.asarray(self.produced_at) <= at].sum()
        return int(produced) - int((np.asarray(self.applied) <= at).sum())


# --- consumer lag, the store, open-loop sending, RSS ---------------------------------------------


def consumer_lag(bootstrap: str, group: str) -> int:
    """Records on ``interactions`` that ``group`` has not committed."""
    # A consumer that never subscribes only asks the group's coordinator; it does not join the group.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return sum(end - (consumer.committed(tp) or 0) for tp, end in end_offsets(consumer, INTERACTIONS).items())
    finally:
        consumer.close()


def end_offsets(consumer: KafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
    return ends


@dataclass(frozen=True)
class StoreCheck:
    lost: int
    """Measured event ids absent from the store's ``interactions`` view."""
    duplicated: int
    """Event ids that appear more than once in the view (which dedupes: must be 0)."""
    raw_duplicates: int
    """Extra rows of measured ids in the Parquet files (a re-sent batch; the view hides them)."""


def check_store(root: Path, ids: frozenset[str]) -> StoreCheck:
    """Waits up to STORE_WITHIN_S for the rows of the last commits, then counts."""
    deadline = time.monotonic() + STORE_WITHIN_S
    while True:
        store = Store.open(root, read_only=True)
        try:
            view = store.query("SELECT event_id FROM interactions")["event_id"].to_pylist()
        finally:
            store.close()
        distinct = set(view)
        lost = len(ids - distinct)
        if lost == 0 or time.monotonic() > deadline:
            return StoreCheck(lost, len(view) - len(distinct), _raw_duplicates(root, ids))
        time.sleep(POLL_S * 2)


def _raw_duplicates(root: Path, ids: frozenset[str]) -> int:
    rows: Counter[str] = Counter()
    for part in sorted((root / "interactions").rglob("*.parquet")):
        rows.update(i for i in pq.read_table(part, columns=["event_id"])["event_id"].to_pylist() if i in ids)
    return sum(n - 1 for n in rows.values())


@dataclass(frozen=True)
class Sent:
    from_ms: int
    to_ms: int
    """Every sent event's CreateTime lies in [from_ms, to_ms]."""
    late_p99_ms: float
    """How late the sender was on its schedule (p99): near 0 means the rate was really offered."""


def open_loop_send(bootstrap: str, events: Sequence[Interaction], rate: float) -> Sent:
    """Send at fixed times from a thread, never waiting for acks: a slow consumer cannot slow the offer."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    try:
        producer.partitions_for(INTERACTIONS)  # metadata now: no send on the schedule waits for it
        payloads = [(e.to_bytes(), e.key()) for e in events]  # encoded up front: the schedule only sends
        late: list[float] = []
        from_ms = int(wall_ms())
        sender = threading.Thread(target=_send_on_schedule, args=(producer, payloads, rate, late), name="open-loop")
        sender.start()
        sender.join()
        to_ms = int(wall_ms()) + 1
        producer.flush()
    finally:
        producer.close()
    return Sent(from_ms, to_ms, float(np.percentile(late, 99)))


def _send_on_schedule(
    producer: KafkaProducer, payloads: list[tuple[bytes, bytes]], rate: float, late: list[float]
) -> None:
    started = time.perf_counter()
    for i, (value, key) in enumerate(payloads):
        due = started + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        late.append((time.perf_counter() - due) * 1000)
        producer.send(INTERACTIONS, value, key=key)


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def finish(report: dict[str, Any], json_path: Path | None) -> int:
    """Write the report as JSON where asked; the exit status: 1 if any event was lost or duplicated."""
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["lost"] or report["duplicated"] else 0
