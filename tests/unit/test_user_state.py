"""A user's stream state: windows as the offline protocol cuts them, and no event applied twice."""

from __future__ import annotations

import pytest

from raie.online.user_state import UserState, next_window

pytestmark = pytest.mark.unit

L = 2


def test_windows_start_at_position_L_and_restart_with_each_slice() -> None:
    state, windows = None, []
    for item, slice_index in [("a", 0), ("b", 0), ("c", 0), ("d", 1), ("e", 1), ("f", 1)]:
        state, window = next_window(state, "u", item, 0, slice_index, L)
        windows.append(None if window is None else (window.slice, window.position, window.context, window.target))
    assert windows == [None, None, (0, 2, ("a", "b"), "c"), None, None, (1, 2, ("d", "e"), "f")]


def test_a_saved_state_knows_which_events_it_holds() -> None:
    state, _ = next_window(None, "u", "a", 0, 0, L)
    state = state.applied_at(partition=1, offset=40)
    saved = UserState.from_json(state.to_json())
    assert saved == state
    assert saved.contains(1, 40) and saved.contains(1, 12)
    assert not saved.contains(1, 41)
    assert not saved.contains(0, 12), "offsets of another partition say nothing"
    assert saved.in_slice(1).contains(1, 40), "a new slice keeps the position"
    assert not UserState.empty(0).contains(0, 0)


def test_states_saved_before_positions_were_kept_still_load() -> None:
    assert UserState.from_json({"slice": 0, "length": 3, "recent": ["a", "b"]}).applied is None
