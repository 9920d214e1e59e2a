"""A kafka-python producer that counts what the broker acknowledged and what it did not."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams.connect import BOOTSTRAP_TIMEOUT_MS, reaching

ACKS = "all"
"""A send counts as delivered only once every in-sync replica has it: a
replay that reports N events sent must have N events on the topic."""

LINGER_MS = 5
"""Wait up to 5 ms to fill a batch: replays send bursts, and a few ms of
latency buys far fewer, larger requests."""

BATCH_SIZE = 256 * 1024
"""Bytes per partition batch; an event is ~200 bytes, so ~1000 events a request
instead of kafka-python's 16 KiB (~80), which is what limits a fast replay."""

COMPRESSION_TYPE = None
"""No compression: the broker is local, so bytes on the wire are cheap and CPU
is not; it also keeps the optional codec packages out of the requirements."""

MAX_REQUEST_SIZE = 1024 * 1024
"""1 MiB, the broker's default message.max.bytes: a record the broker would
refuse fails here, at send time, with the line that made it."""

CLIENT_ID = "raie-producer"

MAX_RECORDED_FAILURES = 1000
"""Failures kept with their reason; more are only counted, so that a file of
millions of bad lines does not fill memory with messages nobody reads."""


@dataclass(frozen=True)
class SendFailure:
    tag: int | None
    """What the caller attached to the send (publish: the input line number)."""
    reason: str


class CountingProducer:
    """Sends bytes and counts deliveries and failures from the futures' callbacks.

    The callbacks run on kafka-python's I/O thread, hence the lock. After
    :meth:`flush`, ``delivered + failed == sent``.
    """

    def __init__(self, bootstrap: str, *, client_id: str = CLIENT_ID) -> None:
        with reaching(bootstrap):
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id=client_id,
                acks=ACKS,
                linger_ms=LINGER_MS,
                batch_size=BATCH_SIZE,
                compression_type=COMPRESSION_TYPE,
                max_request_size=MAX_REQUEST_SIZE,
                bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            )
        self.bootstrap = bootstrap
        self._lock = threading.Lock()
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.failures: list[SendFailure] = []

    def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        tag: int | None = None,
    ) -> None:
        """Queue one record; its outcome is counted when the broker answers."""
        with self._lock:
            self.sent += 1
        try:
            future = self._producer.send(topic, value=value, key=key, partition=partition, headers=list(headers))
        except KafkaError as error:
            # Raised before queueing: record too large, metadata unavailable.
            self._on_error(tag, error)
            return
        future.add_callback(self._on_delivered)
        future.add_errback(self._on_error, tag)

    def partitions_for(self, topic: str) -> list[int]:
        """The topic's partition ids, sorted; waits for metadata like a send would."""
        with reaching(self.bootstrap):
            partitions: set[int] | None = self._producer.partitions_for(topic)
        return sorted(partitions or ())

    def flush(self, timeout: float | None = None) -> None:
        """Block until every queued record is acknowledged or failed."""
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued (waiting up to ``timeout`` seconds, None = until done) and disconnect."""
        self._producer.close(timeout=timeout)

    def __enter__(self) -> CountingProducer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.flush()
            self.close()
        else:
            # Leaving on an error (or Ctrl-C): do not wait on a broker that may be the problem.
            self.close(timeout=0)

    def _on_delivered(self, _metadata: Any) -> None:
        with self._lock:
            self.delivered += 1

    def _on_error(self, tag: int | None, error: BaseException) -> None:
        with self._lock:
            self.failed += 1
            if len(self.failures) < MAX_RECORDED_FAILURES:
                self.failures.append(SendFailure(tag, f"delivery failed: {type(error).__name__}: {error}"))
