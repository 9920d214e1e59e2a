"""``publish``: send a file of interactions to the ``interactions`` topic, reporting every line that failed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from raie.errors import DataError
from schemas import Interaction, SchemaError
from streams.interaction_file import parse_lines
from streams.producer import MAX_RECORDED_FAILURES, CountingProducer
from streams.topic_names import INTERACTIONS


@dataclass(frozen=True)
class PublishReport:
    sent: int
    """Records the broker acknowledged."""
    failed: int
    """Invalid lines plus records the broker did not take."""
    failures: list[tuple[int, str]] = field(default_factory=list)
    """(line number, reason), sorted by line; at most MAX_RECORDED_FAILURES of them."""

    @property
    def ok(self) -> bool:
        return self.failed == 0


def publish(source: IO[bytes] | str | Path, bootstrap: str, topic: str = INTERACTIONS) -> PublishReport:
    """Validate and send every record of a JSON-lines or CSV input; key = user_id.

    Invalid lines are not sent: they are counted as failed with their line
    number and reason. A record the broker refuses or never acknowledges is
    counted as failed too, so ``sent`` is what is really on the topic.
    """
    invalid: list[tuple[int, str]] = []
    n_invalid = 0
    with _opened(source) as stream, CountingProducer(bootstrap) as producer:
        for line_no, record in parse_lines(stream, _name(source)):
            if isinstance(record, Interaction):
                value = _encoded(record)
                if isinstance(value, bytes):
                    producer.send(topic, value, key=record.user_id.encode("utf-8"), tag=line_no)
                    continue
                record = value
            n_invalid += 1
            if len(invalid) < MAX_RECORDED_FAILURES:
                invalid.append((line_no, str(record)))
        producer.flush()
    undelivered = [(failure.tag or 0, failure.reason) for failure in producer.failures]
    failures = sorted(invalid + undelivered)[:MAX_RECORDED_FAILURES]
    return PublishReport(sent=producer.delivered, failed=n_invalid + producer.failed, failures=failures)


def _encoded(record: Interaction) -> bytes | SchemaError:
    try:
        # to_bytes validates once more; should a parsed record still fail, that
        # is this line's failure, not a reason to abandon the rest of the file.
        return record.to_bytes()
    except SchemaError as error:
        return error


@contextmanager
def _opened(source: IO[bytes] | str | Path) -> Iterator[IO[bytes]]:
    if not isinstance(source, str | Path):
        yield source
        return
    path = Path(source)
    if not path.is_file():
        raise DataError(path, "no such file", fix="pass an existing JSON-lines or CSV file, or - for stdin")
    with path.open("rb") as stream:
        yield stream


def _name(source: IO[bytes] | str | Path) -> str:
    return str(source) if isinstance(source, str | Path) else str(getattr(source, "name", "<stdin>"))
