"""A local Kafka broker from Python: ``infra/kafka/kafka.sh`` on chosen ports and data dir.

For the tests and benchmarks that need a broker of their own (and for
notebooks): the same script as ``make kafka-up``, so every broker the
project starts is configured one way.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from raie.errors import RuntimeFailure

REPO = Path(__file__).resolve().parents[1]
KAFKA_SH = REPO / "infra" / "kafka" / "kafka.sh"
UP_TIMEOUT_S = 600
"""The first run also fetches the jars from Maven Central; kafka.sh itself gives the broker 120 s."""
DOWN_TIMEOUT_S = 60
"""kafka.sh waits 30 s for SIGTERM, then kills."""


class BrokerStartError(RuntimeFailure):
    """kafka.sh could not start the broker; the message carries its output."""


def kafka_sh(*args: str, timeout: float = UP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run ``kafka.sh`` and return its result; the caller decides what a failure means."""
    return subprocess.run(["bash", str(KAFKA_SH), *args], capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class LocalBroker:
    port: int
    controller_port: int
    data_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def up_args(self) -> tuple[str, ...]:
        ports = ("--port", str(self.port), "--controller-port", str(self.controller_port))
        return ("up", *ports, "--data-dir", str(self.data_dir))

    def pid(self) -> int | None:
        """The broker's process id while it runs (kafka.sh keeps it in the data dir)."""
        pid_file = self.data_dir / "kafka.pid"
        running = kafka_sh("status", "--data-dir", str(self.data_dir), timeout=DOWN_TIMEOUT_S).returncode == 0
        return int(pid_file.read_text()) if running and pid_file.is_file() else None

    def down(self) -> None:
        kafka_sh("down", "--data-dir", str(self.data_dir), timeout=DOWN_TIMEOUT_S)

    @contextmanager
    def running_empty(self) -> Iterator[str]:
        """Start from an empty cluster, yield the bootstrap address, stop at the end."""
        self.down()  # a broker left by a killed earlier run would hold the port and the old data
        shutil.rmtree(self.data_dir, ignore_errors=True)
        up = kafka_sh(*self.up_args)
        if up.returncode != 0:
            raise BrokerStartError(f"kafka.sh up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        try:
            yield self.bootstrap
        finally:
            self.down()
