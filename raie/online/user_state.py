"""One user's position inside the current slice: what the next window's context is.

The stream sees a user's positives one at a time. Windows are cut as in the
offline protocol (raie/protocol/blocks.py): the event at position p (0-based,
inside the slice) is the target of a candidate window when at least
``shortest`` context items precede it (L by default). Without
``across_slices`` a context holds only the slice's own earlier positives;
with it, the user's last L positives whatever their slice, as the offline
``context_across_blocks``. The state keeps the user's last L positives
whatever their slice either way: serving answers from the freshest context
(raie/serving/), while windows take only the slice's part of it. A candidate's context is its real items only
(fewer than L for a short one); encoding left-pads it
(raie/online/slice_windows.py). Which candidates train, validate or are held
out depends on where the user's slice ends, so it is decided at slice close;
here every candidate is emitted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from raie.online.candidates import Candidate


@dataclass(frozen=True)
class UserState:
    """The user's last ``L`` items, whatever their slice, and how long the user's
    sequence in ``slice`` is (so the last ``min(length, L)`` of them are the slice's)."""

    slice: int
    length: int
    recent: tuple[str, ...]
    applied: tuple[int, int] | None = None
    """(partition, offset) of the last event in this state: after a crash the
    stream re-reads events that a saved state may already contain."""

    @classmethod
    def empty(cls, slice_index: int) -> UserState:
        return cls(slice_index, 0, ())

    def in_slice(self, slice_index: int) -> UserState:
        """The state to extend with an event of ``slice_index``: a new slice starts at position 0."""
        if self.slice == slice_index:
            return self
        return UserState(slice_index, 0, self.recent, self.applied)

    def window_context(self, across_slices: bool = False) -> tuple[str, ...]:
        """The context of the slice's next window: the slice's own items unless contexts reach across slices."""
        if across_slices:
            return self.recent
        return self.recent[len(self.recent) - min(self.length, len(self.recent)) :]

    def contains(self, partition: int, offset: int) -> bool:
        """Whether the event at ``offset`` of ``partition`` is already in this state."""
        return self.applied is not None and self.applied[0] == partition and offset <= self.applied[1]

    def applied_at(self, partition: int, offset: int) -> UserState:
        return replace(self, applied=(partition, offset))

    def advance(
        self, item_id: str, context_len: int, shortest: int | None = None, across_slices: bool = False
    ) -> tuple[UserState, int, tuple[str, ...] | None]:
        """Append one positive: the new state, its position, and its window's context
        (None when it has fewer than ``shortest`` items, L when None)."""
        position = self.length
        enough = context_len if shortest is None else shortest
        window = self.window_context(across_slices)
        context = window if len(window) >= enough else None
        recent = (*self.recent, item_id)[-context_len:]
        return UserState(self.slice, position + 1, recent, self.applied), position, context

    def to_json(self) -> dict[str, object]:
        applied = None if self.applied is None else list(self.applied)
        return {"slice": self.slice, "length": self.length, "recent": list(self.recent), "applied": applied}

    @classmethod
    def from_json(cls, value: dict[str, object]) -> UserState:
        recent, applied = value["recent"], value.get("applied")
        assert isinstance(recent, list)  # written by to_json
        assert applied is None or isinstance(applied, list)
        return cls(
            int(str(value["slice"])),
            int(str(value["length"])),
            tuple(str(item) for item in recent),
            None if applied is None else (int(applied[0]), int(applied[1])),
        )


def next_window(
    state: UserState | None,
    user_id: str,
    item_id: str,
    ts_ms: int,
    slice_index: int,
    context_len: int,
    *,
    shortest: int | None = None,
    across_slices: bool = False,
) -> tuple[UserState, Candidate | None]:
    """One positive of ``user_id``: the user's new state and the candidate window it completes.

    ``shortest`` and ``across_slices`` are the protocol's ``shortest_context`` and
    ``context_across_blocks``; left out, windows have full contexts inside the slice.
    Pure, so that a caller can make the window durable before it saves the state."""
    current = (state or UserState.empty(slice_index)).in_slice(slice_index)
    updated, position, context = current.advance(item_id, context_len, shortest, across_slices)
    if context is None:
        return updated, None
    return updated, Candidate(user_id, slice_index, position, context, item_id, ts_ms, None)
