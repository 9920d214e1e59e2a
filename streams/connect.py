"""Connecting to the broker, and the one error a user sees when it is not there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from raie.errors import RuntimeFailure

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
"""Where `make kafka-up` starts the local single-node broker."""

BOOTSTRAP_TIMEOUT_MS = 10_000
"""How long a client tries to reach the broker before giving up. kafka-python's
default (30 s) makes a forgotten broker look like a hang; a local broker
answers in well under a second, and one still starting in a few."""

START_HINT = "start it with `make kafka-up`"


class BrokerUnavailable(RuntimeFailure):
    """No Kafka broker answered at the bootstrap address.

    A runtime failure (exit 1), not bad input: the address may be right and the
    broker merely down, so the same command works once it is started."""

    def __init__(self, bootstrap: str, cause: str) -> None:
        self.bootstrap = bootstrap
        super().__init__(f"no Kafka broker at {bootstrap} ({cause}); {START_HINT}, or pass --bootstrap HOST:PORT")


@contextmanager
def reaching(bootstrap: str) -> Iterator[None]:
    """Turn kafka-python's bootstrap failures into :class:`BrokerUnavailable`.

    kafka-python 3 raises KafkaTimeoutError("Unable to bootstrap ...") where
    older releases raised NoBrokersAvailable; both mean the same to a user.
    """
    # Imported here, not at the top: the CLI reads DEFAULT_BOOTSTRAP from this
    # module while it builds the parser of every command, kafka-less ones too.
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    try:
        yield
    except (KafkaTimeoutError, KafkaConnectionError) as error:
        raise BrokerUnavailable(bootstrap, str(error) or type(error).__name__) from error
