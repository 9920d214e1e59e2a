"""Kafka brokers for the integration tests, each on its own ports and data dir.

A developer's broker on 9092 is never touched. The shared broker lives for
the whole session; a test that must own every message of a topic (a replay
compared with the offline runner) starts a fresh one of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.local_broker import BrokerStartError, LocalBroker
from tests.paths import REPO

SHARED = LocalBroker(19092, 19093, REPO / "var" / "test-kafka")
FRESH = LocalBroker(19192, 19193, REPO / "var" / "test-kafka-fresh")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The session's shared broker: tests on it read only the messages they sent."""
    try:
        with SHARED.running_empty() as bootstrap:
            yield bootstrap
    except BrokerStartError as error:
        pytest.fail(str(error), pytrace=False)
