"""``raie publish`` and ``raie replay`` against the real test broker, read back with a consumer.

Other tests may share the session's broker and its ``interactions`` topic, so
each test reads only the offsets its own run added (end offsets before vs after).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from raie.cli.common import resolve_config
from raie.cli.main import main
from raie.store import Store
from schemas import Interaction, Item, SliceMark
from streams.admin import ensure_topics
from streams.replay_timeline import replay_timeline
from streams.topic_names import INTERACTIONS, ITEMS, TOPICS

pytestmark = pytest.mark.integration

READ_DEADLINE_S = 60.0
"""Fetching a few thousand records from a local broker takes well under a second."""
POLL_MS = 500
TS_MS = 1_714_564_800_000


def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        return ends
    finally:
        consumer.close()


def _read_since(bootstrap: str, topic: str, start: dict[TopicPartition, int]) -> list[ConsumerRecord]:
    """Every record added to ``topic`` after the ``start`` offsets, in partition order."""
    stop = _end_offsets(bootstrap, topic)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    records: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in stop}
    try:
        consumer.assign(list(stop))
        for tp in stop:
            consumer.seek(tp, start.get(tp, 0))
        deadline = time.monotonic() + READ_DEADLINE_S
        while any(consumer.position(tp) < stop[tp] for tp in stop) and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=POLL_MS).items():
                records[tp].extend(r for r in batch if r.offset < stop[tp])
    finally:
        consumer.close()
    return [record for tp in sorted(records, key=lambda tp: tp.partition) for record in records[tp]]


def _is_mark(record: ConsumerRecord) -> bool:
    return SliceMark.is_mark(record.headers)


def _partition_counts(bootstrap: str) -> dict[str, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return {spec.name: len(consumer.partitions_for_topic(spec.name) or ()) for spec in TOPICS}
    finally:
        consumer.close()


def test_ensure_topics_is_idempotent(kafka_bootstrap: str) -> None:
    ensure_topics(kafka_bootstrap)
    first = _partition_counts(kafka_bootstrap)
    ensure_topics(kafka_bootstrap)  # a second run finds them all and changes nothing
    assert _partition_counts(kafka_bootstrap) == first
    assert all(count >= 1 for count in first.values()), first


def test_publish_sends_valid_lines_keyed_by_user(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_topics(kafka_bootstrap)
    users = ["alice", "bob", "carol", "alice"]
    lines = [
        json.dumps({"event_id": f"it-pub-{i}", "user_id": u, "item_id": f"i{i}", "ts": TS_MS + i, "source": "it"})
        for i, u in enumerate(users)
    ]
    lines.insert(2, '{"event_id": "it-pub-bad", "user_id": "dave", "item_id": "i9", "ts": 1714564800, "source": "it"}')
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")
    before = _end_offsets(kafka_bootstrap, INTERACTIONS)

    status = main(["publish", "--bootstrap", kafka_bootstrap, str(source)])

    out = capsys.readouterr().out
    assert status == 1  # one line failed
    assert "sent 4, failed 1" in out and "line 3: field 'ts'" in out
    records = _read_since(kafka_bootstrap, INTERACTIONS, before)
    events = [Interaction.from_bytes(r.value) for r in records]
    assert sorted(e.event_id for e in events) == [f"it-pub-{i}" for i in range(4)]
    assert all(r.key == e.user_id.encode() for r, e in zip(records, events, strict=True))
    # One user's events share a partition (the key decides it).
    alice = {r.partition for r, e in zip(records, events, strict=True) if e.user_id == "alice"}
    assert len(alice) == 1


def test_replay_sends_items_events_and_marks_after_each_partitions_events(
    kafka_bootstrap: str, synthetic_yelp_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_topics(kafka_bootstrap)
    before_events = _end_offsets(kafka_bootstrap, INTERACTIONS)
    before_items = _end_offsets(kafka_bootstrap, ITEMS)

    data = ["--dataset", "yelp", "--data-dir", str(synthetic_yelp_dir)]
    status = main(["replay", *data, "--bootstrap", kafka_bootstrap, "--slices", "0.5"])

    assert status == 0
    timeline = replay_timeline("yelp", synthetic_yelp_dir, resolve_config("yelp", None), (0.5,))
    n_partitions = len(before_events)
    assert f"replayed {len(timeline)} events of yelp in 2 slices ({2 * n_partitions} slice marks)" in (
        capsys.readouterr().out
    )

    items = _read_since(kafka_bootstrap, ITEMS, before_items)
    assert [r.key for r in items] == [item.key() for item in timeline.items]
    assert [Item.from_bytes(r.value) for r in items] == list(timeline.items)

    records = _read_since(kafka_bootstrap, INTERACTIONS, before_events)
    events = [Interaction.from_bytes(r.value) for r in records if not _is_mark(r)]
    assert sorted(e.event_id for e in events) == sorted(e.event_id for e in timeline.events())
    assert all(r.key == Interaction.from_bytes(r.value).key() for r in records if not _is_mark(r))
    (cut,) = timeline.boundaries
    ends = [cut * 1000, timeline.last_ts * 1000 + 1]
    for partition in range(n_partitions):
        mine = [r for r in records if r.partition == partition]
        marks = [(i, SliceMark.from_bytes(r.value)) for i, r in enumerate(mine) if _is_mark(r)]
        assert [(m.slice, m.end_ms, m.origin, m.partition) for _, m in marks] == [
            (0, ends[0], "replay", None),
            (1, ends[1], "replay", None),
        ]
        assert all(mine[i].key is None for i, _ in marks)
        # Every event of slice k sits before mark k on its partition, every later one after it.
        for position, mark in marks:
            assert mark.end_ms is not None
            before = [Interaction.from_bytes(r.value) for r in mine[:position] if not _is_mark(r)]
            after = [Interaction.from_bytes(r.value) for r in mine[position:] if not _is_mark(r)]
            assert all(e.ts_ms < mark.end_ms for e in before)
            assert all(e.ts_ms >= mark.end_ms for e in after)
        assert marks[-1][0] == len(mine) - 1  # the final mark closes the partition's stream


def _stored_interactions(root: Path) -> list[dict[str, object]]:
    """A store as a stream leaves it: slices 0 and 1, each event with where it was read from."""
    rows: list[dict[str, object]] = []
    for s in (0, 1):
        for i in range(5):
            event = {"event_id": f"st-{s}-{i}", "user_id": f"u{i % 3}", "item_id": f"i{i}", "source": "it"}
            where = {"slice": s, "partition": i % 2, "offset": i, "chunk": f"{s:08d}"}
            rows.append(event | where | {"rating": 4.0 if i % 2 else None, "ts": TS_MS + 1000 * (10 * s + i)})
    with Store.open(root) as store:
        store.write("interactions", pa.Table.from_pylist(rows))
    return rows


def test_replay_from_store_republishes_a_stored_slice_then_marks_it(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_topics(kafka_bootstrap)
    stored = [r for r in _stored_interactions(tmp_path / "store") if r["slice"] == 1]
    before = _end_offsets(kafka_bootstrap, INTERACTIONS)

    status = main(["replay", "--from-store", str(tmp_path / "store"), "--slice", "1", "--bootstrap", kafka_bootstrap])

    assert status == 0
    assert f"re-published 5 stored events of slice(s) 1 ({len(before)} slice marks)" in capsys.readouterr().out
    records = _read_since(kafka_bootstrap, INTERACTIONS, before)
    events = [Interaction.from_bytes(r.value) for r in records if not _is_mark(r)]
    assert sorted((e.event_id, e.user_id, e.item_id, e.rating, e.ts_ms) for e in events) == sorted(
        (r["event_id"], r["user_id"], r["item_id"], r["rating"], r["ts"]) for r in stored
    )
    last_ms = max(int(str(r["ts"])) for r in stored)
    for partition in range(len(before)):
        mine = [r for r in records if r.partition == partition]
        assert (
            SliceMark.from_bytes(mine[-1].value).slice == 1
            and SliceMark.from_bytes(mine[-1].value).end_ms == last_ms + 1
        )
        times = [Interaction.from_bytes(r.value).ts_ms for r in mine[:-1]]
        assert times == sorted(times), "each partition gets its events in time order"


def test_replay_from_store_of_an_absent_slice_names_the_stored_ones(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _stored_interactions(tmp_path / "store")
    status = main(["replay", "--from-store", str(tmp_path / "store"), "--slice", "7", "--bootstrap", kafka_bootstrap])
    assert status == 2
    assert "no interactions of slice 7 (stored slices: 0, 1)" in capsys.readouterr().err


def test_unreachable_broker_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text('{"event_id": "e", "user_id": "u", "item_id": "i", "ts": 1714564800000, "source": "it"}\n')
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    status = main(["publish", "--bootstrap", "127.0.0.1:1", str(source)])
    err = capsys.readouterr().err
    assert status == 1, "a broker that is down is a runtime failure, not bad input"
    assert "no Kafka broker at 127.0.0.1:1" in err and "make kafka-up" in err and len(err.strip().splitlines()) == 1
