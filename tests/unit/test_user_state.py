"""A user's stream state: windows as the offline protocol cuts them (every context setting); no event applied twice."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from raie.config import ProtocolConfig
from raie.online.candidates import Candidate, ItemVocabulary
from raie.online.slice_windows import role_windows, split_roles
from raie.online.user_state import UserState, next_window
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import PADDING_ITEM, Positives
from raie.protocol.windows import Windows
from tests.unit.test_protocol import random_positives

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


def test_a_short_context_is_emitted_once_it_has_the_shortest_length() -> None:
    state, windows = None, []
    for item, slice_index in [("a", 0), ("b", 0), ("c", 0), ("d", 1), ("e", 1)]:
        state, window = next_window(state, "u", item, 0, slice_index, 3, shortest=1)
        windows.append(None if window is None else (window.position, window.context))
    # The context holds real items only (encoding left-pads it); a new slice starts empty.
    assert windows == [None, (1, ("a",)), (2, ("a", "b")), None, (1, ("d",))]


def test_contexts_across_slices_keep_the_last_L_items() -> None:
    state, windows = None, []
    for item, slice_index in [("a", 0), ("b", 0), ("c", 0), ("d", 1), ("e", 2)]:
        state, window = next_window(state, "u", item, 0, slice_index, L, across_slices=True)
        windows.append(None if window is None else (window.slice, window.position, window.context))
    assert windows == [None, None, (0, 2, ("a", "b")), (1, 0, ("b", "c")), (2, 0, ("c", "d"))]


def test_the_state_keeps_the_last_L_items_across_slices_for_serving() -> None:
    state = None
    for item, slice_index in [("a", 0), ("b", 0), ("c", 0), ("d", 1)]:
        state, _ = next_window(state, "u", item, 0, slice_index, L)
    assert state is not None
    assert state.recent == ("c", "d"), "serving reads the freshest L items, whatever their slice"
    assert state.window_context() == ("d",), "windows of slice 1 see slice 1's items only"
    assert state.window_context(across_slices=True) == ("c", "d")


# --- the stream's windows are the offline protocol's, for every context setting

PARITY_BASE = ProtocolConfig(context_len=4, holdout_targets=2, eval_stride=3, train_stride=2)


def stream_windows(p: Positives, data: ProtocolData, config: ProtocolConfig) -> list[dict[str, Windows]]:
    """Replay the positives as the stream sees them (time order) and cut each slice's windows by role."""
    order = sorted(range(len(p)), key=lambda r: (int(p.ts[r]), p.user_ids[p.user[r]], int(p.item[r])))
    vocabulary = ItemVocabulary.sorted_from(p.item_ids)
    states: dict[str, UserState] = {}
    candidates: list[list[Candidate]] = [[] for _ in data.blocks]
    for row in order:
        user, slice_index = p.user_ids[p.user[row]], int(data.block_of_row[row])
        states[user], candidate = next_window(
            states.get(user),
            user,
            p.item_ids[p.item[row] - 1],
            int(p.ts[row]) * 1000,
            slice_index,
            config.context_len,
            shortest=config.shortest_context,
            across_slices=config.context_across_blocks,
        )
        if candidate is not None:
            candidates[slice_index].append(candidate)
    return [
        {
            role: role_windows(chosen, vocabulary, config.context_len).windows
            for role, chosen in split_roles(c, config).items()
        }
        for c in candidates
    ]


@pytest.mark.parametrize(
    "config",
    [
        PARITY_BASE,
        replace(PARITY_BASE, min_context_len=1),
        replace(PARITY_BASE, min_context_len=2),
        replace(PARITY_BASE, context_across_blocks=True),
        replace(PARITY_BASE, min_context_len=1, context_across_blocks=True),
    ],
)
def test_stream_windows_equal_the_offline_windows(config: ProtocolConfig) -> None:
    p = random_positives(7)
    data = build_protocol(p, config)
    for block, stream in zip(data.blocks, stream_windows(p, data, config), strict=True):
        for role in ("train", "valid", "holdout", "eval"):
            offline, online = getattr(block, role), stream[role]
            np.testing.assert_array_equal(online.context, offline.context)
            np.testing.assert_array_equal(online.target, offline.target)
            np.testing.assert_array_equal(online.ts, offline.ts)
            # The stream numbers users inside the batch; both number them in sorted-id order.
            ids = sorted({p.user_ids[u] for u in offline.user})
            assert [ids[u] for u in online.user] == [p.user_ids[u] for u in offline.user]
        assert len(stream["holdout"]) > 0
    short = sum(int((w["eval"].context == PADDING_ITEM).any()) for w in stream_windows(p, data, config))
    assert (short > 0) == (config.min_context_len is not None), "short contexts exist exactly when allowed"
