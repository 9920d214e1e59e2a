"""Which slice an event belongs to, per input partition.

A slice ends at a *mark*: a slice-mark message the replayer writes into every
partition after that slice's events, or, in watermark mode, the first event
whose time reaches the slice's end. The clock remembers the offset of every
mark, so the slice of an event is a pure function of its offset: re-reading a
partition after a crash assigns every event the slice it had the first time,
whatever state was saved before the crash.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from raie.errors import ConfigError


@dataclass(frozen=True)
class Watermark:
    """Fixed-duration slices in event time: slice k is [origin + k*duration, origin + (k+1)*duration)."""

    origin_ms: int
    duration_ms: int

    def __post_init__(self) -> None:
        # slice_of divides by the duration, and a slice of no time can never close.
        if self.duration_ms <= 0:
            raise ConfigError("duration_ms", f"{self.duration_ms} <= 0", "give slices a positive length")

    def slice_of(self, ts_ms: int) -> int:
        return max(0, (ts_ms - self.origin_ms) // self.duration_ms)

    def end_of(self, slice_index: int) -> int:
        return self.origin_ms + (slice_index + 1) * self.duration_ms


@dataclass
class PartitionClock:
    """Offsets at which each slice of one partition ended (mark k closes slice k)."""

    mark_offsets: list[int] = field(default_factory=list)

    @property
    def open_slice(self) -> int:
        return len(self.mark_offsets)

    def slice_at(self, offset: int) -> int:
        """The slice of the event at ``offset``: how many marks came at or before it."""
        return bisect.bisect_right(self.mark_offsets, offset)

    def mark(self, offset: int) -> int | None:
        """Record a mark read at ``offset``; the slice it closes, or None when already known (a re-read)."""
        if self.mark_offsets and offset <= self.mark_offsets[-1]:
            return None
        self.mark_offsets.append(offset)
        return len(self.mark_offsets) - 1

    def watermark_marks(self, offset: int, ts_ms: int, watermark: Watermark) -> list[int]:
        """Slices that an event at ``offset`` with time ``ts_ms`` closes (late events close none).

        The event itself belongs to the slice after them, so each mark sits at its offset."""
        closed = []
        while watermark.slice_of(ts_ms) > self.open_slice and self.slice_at(offset) == self.open_slice:
            closed.append(self.open_slice)
            self.mark_offsets.append(offset)
        return closed

    def to_json(self) -> list[int]:
        return list(self.mark_offsets)

    @classmethod
    def from_json(cls, value: list[int]) -> PartitionClock:
        return cls([int(v) for v in value])
