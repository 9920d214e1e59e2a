"""The stream worker on a real broker: dead letters with reasons, duplicates stored once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from raie.store import Store
from schemas import DeadLetter
from streams.admin import ensure_topics
from streams.topic_names import DEAD_LETTERS, INTERACTIONS

pytestmark = pytest.mark.integration

VALID = 40
VISIBLE_WITHIN_S = 60.0
"""Generous for a loaded CI box; the sink flushes every 2 s."""

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
    body = {"event_id": f"{source}-{i}", "user_id": f"u{i % 4}", "item_id": f"i{i}", "rating": 5}
    return json.dumps(body | {"ts": 1_700_000_000_000 + i, "source": source}).encode()


def test_dead_letters_and_duplicates(kafka_bootstrap: str, tmp_path: Path) -> None:
    ensure_topics(kafka_bootstrap)
    store = tmp_path / "store"
    app_id = f"test-{uuid.uuid4().hex[:8]}"  # also the source: other tests share the topic
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    start_offsets = _end_offsets(kafka_bootstrap, DEAD_LETTERS)
    for i in range(VALID):
        producer.send(INTERACTIONS, key=f"u{i % 4}".encode(), value=event(i, app_id))
    for raw in MALFORMED:
        producer.send(INTERACTIONS, key=b"bad", value=raw)
    for i in range(10):  # re-sent: must be stored once
        producer.send(INTERACTIONS, key=f"u{i % 4}".encode(), value=event(i, app_id))
    producer.flush()
    command = ["worker", "--bootstrap", kafka_bootstrap, "--store", str(store), "--app-id", app_id]
    worker = subprocess.Popen(
        [sys.executable, "-m", "raie.cli.main", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    try:
        stored = _wait_for_rows(store, app_id, VALID)
        letters = _read_dead_letters(kafka_bootstrap, start_offsets, len(MALFORMED))
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    assert stored == VALID
    assert sorted(letter.original() for letter in letters) == sorted(MALFORMED)
    assert all(letter.reason for letter in letters)
    fields = {letter.field for letter in letters}
    assert {"event_id", "user_id", "ts"} <= fields


def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        from kafka import TopicPartition

        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def _wait_for_rows(store: Path, source: str, expected: int) -> int:
    deadline, count = time.monotonic() + VISIBLE_WITHIN_S, -1
    while time.monotonic() < deadline:
        if (store / "store.json").is_file():
            with Store.open(store, read_only=True) as s:
                count = int(
                    s.query("SELECT count(*) AS n FROM interactions WHERE source = ?", [source]).column("n")[0].as_py()
                )
            if count >= expected:
                time.sleep(3)  # a repeat would show up in the next flush
                with Store.open(store, read_only=True) as s:
                    return int(
                        s.query("SELECT count(*) AS n FROM interactions WHERE source = ?", [source])
                        .column("n")[0]
                        .as_py()
                    )
        time.sleep(1)
    return count


def _read_dead_letters(bootstrap: str, start: dict[int, int], expected: int) -> list[DeadLetter]:
    from kafka import TopicPartition

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
