"""A dedicated Kafka broker for the integration tests, started once per session.

It runs through the same ``infra/kafka/kafka.sh`` as ``make kafka-up``, but on
its own ports and data dir, so a developer's broker on 9092 is never touched
and every session starts from an empty cluster.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.paths import REPO

KAFKA_SH = REPO / "infra" / "kafka" / "kafka.sh"
TEST_PORT = 19092
TEST_CONTROLLER_PORT = 19093
TEST_DATA_DIR = REPO / "var" / "test-kafka"
TEST_BOOTSTRAP = f"127.0.0.1:{TEST_PORT}"
UP_ARGS = (
    "up",
    "--port",
    str(TEST_PORT),
    "--controller-port",
    str(TEST_CONTROLLER_PORT),
    "--data-dir",
    str(TEST_DATA_DIR),
)
DOWN_ARGS = ("down", "--data-dir", str(TEST_DATA_DIR))
UP_TIMEOUT_S = 600
"""The first run also fetches the jars from Maven Central; kafka.sh itself gives the broker 120 s."""
DOWN_TIMEOUT_S = 60
"""kafka.sh waits 30 s for SIGTERM, then kills."""


def kafka_sh(*args: str, timeout: float = UP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run ``kafka.sh`` and return its result; the caller decides what a failure means."""
    return subprocess.run(["bash", str(KAFKA_SH), *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Start the test broker, yield its bootstrap address, stop it at the end of the session."""
    # A broker left by a killed earlier session would hold the port and the old data.
    kafka_sh(*DOWN_ARGS, timeout=DOWN_TIMEOUT_S)
    shutil.rmtree(TEST_DATA_DIR, ignore_errors=True)
    up = kafka_sh(*UP_ARGS)
    if up.returncode != 0:
        pytest.fail(f"kafka.sh up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}", pytrace=False)
    try:
        yield TEST_BOOTSTRAP
    finally:
        kafka_sh(*DOWN_ARGS, timeout=DOWN_TIMEOUT_S)
