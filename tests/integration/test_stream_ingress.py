"""The stream worker on a real broker: dead letters with reasons, duplicates written once,
windows that carry their events' publish times."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from raie.store import Store, table_spec
from raie.store.views import data_glob
from schemas import DeadLetter
from streams.admin import ensure_topics
from streams.topic_names import DEAD_LETTERS, INTERACTIONS

pytestmark = pytest.mark.integration

VALID = 60
"""15 positives for each of 4 users: each completes 5 windows of the preset's L = 10."""
USERS = 4
WINDOWS = USERS * (VALID // USERS - 10)
"""A window per positive after a user's first L."""
VISIBLE_WITHIN_S = 60.0
"""Generous for a loaded CI box; the ingress commits every second."""

MALFORMED: list[bytes] = [
    b"{not json",
    json.dumps({"user_id": "u1", "item_id": "i1", "ts": 1_700_000_000_000, "source": "t"}).encode(),  # no event_id
    json.dumps({"event_id": "x", "user_id": 7, "item_id": "i1", "ts": 1_700_000_000_000, "source": "t"}).encode(),
    json.dumps({"event_id": "y", "user_id": "u", "item_id": "i", "ts": "2024-05-01 12:00", "source": "t"}).encode(),
    b'{"event_id": "z", "pad": "' + b"x" * 70_000 + b'"}',
    # Near the broker's 1 MiB record limit: as a dead letter (base64) it is larger than that.
    b'{"event_id": "big", "pad": "' + b"y" * 900_000 + b'"}',
]


def event(i: int, source: str) -> bytes:
    body = {"event_id": f"{source}-{i}", "user_id": f"u{i % USERS}", "item_id": f"i{i}", "rating": 5}
    return json.dumps(body | {"ts": 1_700_000_000_000 + i, "source": source}).encode()


def test_dead_letters_and_duplicates(kafka_bootstrap: str, tmp_path: Path) -> None:
    ensure_topics(kafka_bootstrap)
    store = tmp_path / "store"
    app_id = f"test-{uuid.uuid4().hex[:8]}"  # also the source: other tests share the topic
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    sent_from_ms = int(time.time() * 1000)  # record timestamps are whole ms, taken at send
    start_offsets = _end_offsets(kafka_bootstrap, DEAD_LETTERS)
    for i in range(VALID):
        producer.send(INTERACTIONS, key=f"u{i % USERS}".encode(), value=event(i, app_id))
    for raw in MALFORMED:
        producer.send(INTERACTIONS, key=b"bad", value=raw)
    for i in range(10):  # re-sent: must be stored once
        producer.send(INTERACTIONS, key=f"u{i % USERS}".encode(), value=event(i, app_id))
    producer.flush()
    sent = _end_offsets(kafka_bootstrap, INTERACTIONS)  # everything this test sent lies below these
    trace = tmp_path / "trace.jsonl"
    command = ["worker", "--bootstrap", kafka_bootstrap, "--store", str(store), "--app-id", app_id]
    command += ["--trace", str(trace)]
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "raie.cli.main", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
    try:
        # The ingress acks a record only once its rows are on disk and its windows and dead
        # letters delivered: once the worker's group has committed past the re-sent events,
        # every row they cause is written.
        _wait_for_commits(kafka_bootstrap, app_id, sent)
        letters = _read_dead_letters(kafka_bootstrap, start_offsets, len(MALFORMED))
        _wait_for_windows(trace, sent_from_ms, WINDOWS)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, log.read_text()[-4000:]
    # The raw rows, not the view: the view keeps one row per event id whatever the ingress wrote.
    written = Counter(_raw_event_ids(store, app_id))
    assert sorted(written) == sorted(f"{app_id}-{i}" for i in range(VALID))
    assert {event_id: n for event_id, n in written.items() if n > 1} == {}, "a re-sent event was stored twice"
    with Store.open(store, read_only=True) as s:
        viewed = s.query("SELECT count(*) AS n FROM interactions WHERE source = ?", [app_id]).column("n")[0].as_py()
    assert viewed == VALID
    assert sorted(letter.original() for letter in letters) == sorted(MALFORMED)
    assert all(letter.reason for letter in letters)
    fields = {letter.field for letter in letters}
    assert {"event_id", "user_id", "ts"} <= fields
    # The topic is shared with other tests, whose windows this fresh group reads too; ours are the
    # ones stamped after this test began sending, in epoch milliseconds (Faust gives seconds).
    ours = _our_windows(trace, sent_from_ms)
    assert len(ours) == WINDOWS, "a window missing or applied twice"
    assert all(ms <= time.time() * 1000 for ms in ours)


def _applied(trace: Path) -> list[dict[str, Any]]:
    """The editor's trace lines, one per routed batch it took in."""
    lines = [json.loads(line) for line in trace.read_text().splitlines()] if trace.is_file() else []
    return [line for line in lines if line["stage"] == "applied"]


def _our_windows(trace: Path, sent_from_ms: int) -> list[int]:
    """The publish times of the applied windows whose events were sent from ``sent_from_ms`` on."""
    return [ms for line in _applied(trace) for ms in line["published_ms"] if ms >= sent_from_ms]


def _wait_for_windows(trace: Path, sent_from_ms: int, windows: int) -> None:
    deadline = time.monotonic() + VISIBLE_WITHIN_S
    while len(_our_windows(trace, sent_from_ms)) < windows:
        assert time.monotonic() < deadline, f"fewer than {windows} windows stamped in epoch ms after the send"
        time.sleep(0.5)


def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def _wait_for_commits(bootstrap: str, group: str, offsets: dict[int, int]) -> None:
    """Until ``group`` has committed at least ``offsets`` on every partition of ``interactions``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    behind = dict(offsets)
    try:
        deadline = time.monotonic() + VISIBLE_WITHIN_S
        while behind and time.monotonic() < deadline:
            for partition, end in list(behind.items()):
                committed = consumer.committed(TopicPartition(INTERACTIONS, partition))
                if end == 0 or (committed is not None and committed >= end):
                    del behind[partition]
            time.sleep(0.5)
    finally:
        consumer.close()
    assert not behind, f"the worker never committed past these (partition: offset): {behind}"


def _raw_event_ids(store: Path, source: str) -> list[str]:
    """The event id of every row in the interactions table's Parquet files, read as written."""
    spec = table_spec("interactions")
    files = sorted(glob.glob(data_glob(spec, store / spec.name)))  # the files the view reads
    assert files, f"no Parquet file under {store / spec.name}"
    ids: list[str] = []
    for file in files:
        rows = pq.read_table(file, columns=["event_id", "source"]).to_pylist()
        ids += [str(row["event_id"]) for row in rows if row["source"] == source]
    return ids


def _read_dead_letters(bootstrap: str, start: dict[int, int], expected: int) -> list[DeadLetter]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000)
    parts = [TopicPartition(DEAD_LETTERS, p) for p in start]
    consumer.assign(parts)
    for tp in parts:
        consumer.seek(tp, start[tp.partition])
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + VISIBLE_WITHIN_S
    while len(letters) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            letters += [DeadLetter.from_bytes(r.value) for r in records]
        letters = [letter for letter in letters if letter.original() in MALFORMED]  # the topic is shared
    consumer.close()
    return letters
