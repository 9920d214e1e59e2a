"""``replay``: send a data set's timeline to Kafka as if it were happening, closing each slice with marks.

Order of what is sent: the item catalogue to ``items`` (flushed), then every
event to ``interactions`` in (ts, user_id, item_id) order; when the next event
belongs to a later slice, the producer is flushed and one SliceMark is sent to
every partition of ``interactions`` (flushed again). After the last event the
final slice is closed the same way, so the stream closes every slice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from raie.config import ExperimentConfig
from raie.errors import RaieError
from schemas import SliceMark
from streams.producer import CountingProducer
from streams.replay_timeline import DEFAULT_SLICES, MS_PER_SECOND, replay_timeline
from streams.topic_names import INTERACTIONS, ITEMS

log = logging.getLogger(__name__)

MAX_SLEEP_SECONDS = 1.0
"""Longest pause between two events with --speed. Real timelines span years
(MovieLens: 22 of them, with gaps of months), which no speed-up makes both
watchable and faithful; capping each gap keeps bursts and quiet stretches
distinguishable while a replay still ends the same day."""

PROGRESS_EVERY = 10_000
"""Events between two progress lines in the log."""

REPLAY_CLIENT_ID = "raie-replay"


@dataclass(frozen=True)
class ReplayReport:
    events: int
    """Interactions sent (and acknowledged)."""
    slices: int
    """Slices closed: one more than the number of boundaries."""
    marks: int
    """SliceMark messages sent: slices x partitions of ``interactions``."""
    seconds: float
    """Wall-clock time of the whole replay, loading included."""


class ReplayError(RaieError):
    """The broker did not take everything a replay sent."""


def pause_seconds(previous_ts_ms: int | None, ts_ms: int, speed: float | None) -> float:
    """How long to wait before an event, at ``speed`` times real time; 0 when unpaced."""
    if speed is None or previous_ts_ms is None:
        return 0.0
    gap = (ts_ms - previous_ts_ms) / MS_PER_SECOND / speed
    return min(max(gap, 0.0), MAX_SLEEP_SECONDS)


def replay(
    dataset: str,
    data_dir: Path,
    bootstrap: str,
    *,
    speed: float | None,
    slices: tuple[float, ...] = DEFAULT_SLICES,
    config: ExperimentConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayReport:
    """Replay the preprocessed timeline of ``dataset`` (see ``replay_timeline``) to the broker."""
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    started = time.monotonic()
    timeline = replay_timeline(dataset, data_dir, config, slices)
    with CountingProducer(bootstrap, client_id=REPLAY_CLIENT_ID) as producer:
        for item in timeline.items:
            producer.send(ITEMS, item.to_bytes(), key=item.key())
        producer.flush()
        log.info("sent %d items to %s", len(timeline.items), ITEMS)
        partitions = producer.partitions_for(INTERACTIONS)
        cuts_ms = [cut * MS_PER_SECOND for cut in timeline.boundaries]
        open_slice, previous_ts_ms, sent = 0, None, 0
        for event in timeline.events():
            while open_slice < len(cuts_ms) and event.ts_ms >= cuts_ms[open_slice]:
                close_slice(producer, partitions, open_slice, cuts_ms[open_slice])
                open_slice += 1
            pause = pause_seconds(previous_ts_ms, event.ts_ms, speed)
            if pause > 0:
                sleep(pause)
            producer.send(INTERACTIONS, event.to_bytes(), key=event.key())
            previous_ts_ms, sent = event.ts_ms, sent + 1
            if sent % PROGRESS_EVERY == 0:
                log.info("sent %d of %d events (slice %d)", sent, len(timeline), open_slice)
        # The final slice ends just after its last event (end_ms is exclusive).
        final_end_ms = timeline.last_ts * MS_PER_SECOND + 1
        for remaining in range(open_slice, timeline.n_slices):
            end_ms = cuts_ms[remaining] if remaining < len(cuts_ms) else final_end_ms
            close_slice(producer, partitions, remaining, end_ms)
    check_delivered(producer)
    return ReplayReport(
        events=sent,
        slices=timeline.n_slices,
        marks=timeline.n_slices * len(partitions),
        seconds=time.monotonic() - started,
    )


def check_delivered(producer: CountingProducer) -> None:
    """Raise :class:`ReplayError` if the broker refused any message of a finished (flushed) replay."""
    if producer.failed:
        first = producer.failures[0].reason if producer.failures else "no reason recorded"
        raise ReplayError(f"{producer.failed} of {producer.sent} messages were not delivered; first: {first}")


def close_slice(producer: CountingProducer, partitions: list[int], index: int, end_ms: int) -> None:
    """Flush the slice's events, then mark its end on every partition."""
    producer.flush()
    mark = SliceMark(slice=index, end_ms=end_ms, origin="replay", partition=None, sent_at_ms=_now_ms())
    value = mark.to_bytes()
    for partition in partitions:
        producer.send(INTERACTIONS, value, key=None, partition=partition, headers=SliceMark.HEADERS)
    producer.flush()
    log.info("closed slice %d (end %d ms) on %d partitions", index, end_ms, len(partitions))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
