"""The local broker of infra/kafka: topics, keyed produce and consume, idempotent start."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from streams.local_broker import kafka_sh
from tests.integration.broker import SHARED

pytestmark = pytest.mark.integration

PARTITIONS = 2
MESSAGES = 10
CONSUME_DEADLINE_S = 60.0
"""Joining the group and fetching is ~1 s idle; the margin is for a loaded box."""
IDLE_TIMEOUT_MS = 10_000
"""The consumer iterator gives up after this long without a record."""


def test_keyed_messages_round_trip_through_a_two_partition_topic(kafka_bootstrap: str) -> None:
    topic = "it-round-trip"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="it-admin")
    try:
        # Explicit creation: the broker has auto.create.topics.enable=false, like the app expects.
        admin.create_topics([NewTopic(name=topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        admin.close()

    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(MESSAGES)}
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for key, value in sent.items():
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()

    received: dict[bytes, bytes] = {}
    partitions: set[int] = set()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id="it-round-trip",
        auto_offset_reset="earliest",
        consumer_timeout_ms=IDLE_TIMEOUT_MS,
    )
    deadline = time.monotonic() + CONSUME_DEADLINE_S
    try:
        while len(received) < MESSAGES and time.monotonic() < deadline:
            for record in consumer:
                received[record.key] = record.value
                partitions.add(record.partition)
                if len(received) == MESSAGES:
                    break
    finally:
        consumer.close()

    assert received == sent
    # The default partitioner spreads these ten keys over both partitions.
    assert partitions == set(range(PARTITIONS))


def test_a_second_up_reports_the_running_broker(kafka_bootstrap: str) -> None:
    again = kafka_sh(*SHARED.up_args)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert SHARED.bootstrap in again.stdout
    assert kafka_bootstrap == SHARED.bootstrap
