"""Preprocessing, the time split and right-aligned windows."""

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from raie.config import PreprocessConfig, ProtocolConfig
from raie.data.schema import INTERACTIONS_SCHEMA
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import PADDING_ITEM, Positives, preprocess
from raie.protocol.roles import role_targets
from raie.protocol.split import assign_blocks, block_names
from raie.protocol.windows import Windows, right_aligned_targets, segments, windows_at

pytestmark = pytest.mark.unit


def table(rows: list[tuple[str, str, float, int]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"user_id": u, "item_id": i, "rating": r, "ts": datetime.fromtimestamp(t, UTC)} for u, i, r, t in rows],
        schema=INTERACTIONS_SCHEMA,
    )


def test_positive_threshold_and_latest_pair_dedupe() -> None:
    raw = table([("u", "a", 5, 1), ("u", "a", 4, 3), ("u", "b", 2, 2), ("v", "a", 4, 5)])
    p = preprocess(raw, PreprocessConfig(min_rating=4.0, dedupe=True, k_core=0))
    assert len(p) == 3 - 1  # b is negative; (u, a) kept once
    rows = sorted(zip([p.user_ids[u] for u in p.user], [p.item_ids[i - 1] for i in p.item], p.ts.tolist(), strict=True))
    assert rows == [("u", "a", 3), ("v", "a", 5)]


def test_k_core_is_iterative() -> None:
    # x has 2 positives, y 2, z 1. 2-core drops z, then item c (only z liked it twice? no: once)
    raw = table([("x", "a", 5, 1), ("x", "b", 5, 2), ("y", "a", 5, 3), ("y", "b", 5, 4), ("z", "c", 5, 5)])
    p = preprocess(raw, PreprocessConfig(k_core=2))
    assert sorted(p.user_ids) == ["x", "y"] and sorted(p.item_ids) == ["a", "b"]


def test_items_start_at_one_and_rows_are_time_ordered_per_user() -> None:
    raw = table([("u", "b", 5, 9), ("u", "a", 5, 1), ("v", "c", 5, 4)])
    p = preprocess(raw, PreprocessConfig())
    assert p.item.min() == 1
    for user in np.unique(p.user):
        assert np.all(np.diff(p.ts[p.user == user]) >= 0)


def test_quantile_blocks() -> None:
    ts = np.arange(10)
    assert assign_blocks(ts, (0.5, 0.8)).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert block_names(3) == ("S", "F", "T") and block_names(4)[3] == "slice3"


def test_right_aligned_windows_by_hand() -> None:
    user = np.array([0] * 13 + [1] * 5)
    block = np.array([0] * 10 + [1] * 3 + [0] * 5)
    item = np.arange(1, 19)
    segs = segments(user, block)
    assert segs.start.tolist() == [0, 10, 13] and segs.length.tolist() == [10, 3, 5]
    targets = right_aligned_targets(segs.start, segs.length, context_len=3, stride=2)
    # user 0 block 0: rows 9, 7, 5, 3; user 0 block 1 too short; user 1: row 17 (row 15 lacks context)
    assert targets.tolist() == [3, 5, 7, 9, 17]
    w = windows_at(targets, user, item, np.arange(18), 3)
    assert w.context[0].tolist() == [1, 2, 3] and w.target[0] == 4
    assert w.context[-1].tolist() == [15, 16, 17] and w.target[-1] == 18


def keys(windows: Windows) -> set[tuple[int, int, int]]:
    return set(zip(windows.user.tolist(), windows.ts.tolist(), windows.target.tolist(), strict=True))


def test_windows_never_cross_blocks_and_parts_do_not_overlap() -> None:
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{rng.integers(50)}", 5.0, int(t)) for u in range(20) for t in rng.integers(0, 1000, 40)]
    p = preprocess(table(rows), PreprocessConfig(dedupe=False))
    data = build_protocol(p, ProtocolConfig(context_len=4, eval_stride=2, holdout_targets=2))
    starts = np.concatenate([[-np.inf], data.boundaries, [np.inf]])
    for index, block in enumerate(data.blocks):
        for part in (block.train, block.valid, block.holdout, block.eval):
            assert np.all((part.ts >= starts[index]) & (part.ts < starts[index + 1]))
        # A held-out target is never a training or validation target of the same user.
        held = keys(block.holdout)
        assert not held & (keys(block.train) | keys(block.valid))
        assert len(block.holdout) <= 2 * len(np.unique(block.holdout.user))


def test_context_stays_inside_the_block() -> None:
    # One user, 12 positives, cut at the middle: each block has 6, L=5 -> one eval window each.
    rows = [("u", f"i{t}", 5.0, t) for t in range(12)]
    data = build_protocol(preprocess(table(rows), PreprocessConfig()), ProtocolConfig(cutoffs=(0.5,), context_len=5))
    first, second = data.blocks
    assert len(first.eval) == 1 and len(second.eval) == 1
    assert set(second.eval.context[0].tolist()).isdisjoint(first.eval.context[0].tolist())


# --- shorter contexts and contexts across blocks (docs/METHOD.md sections 1 and 6)

ROLES = ("train", "valid", "holdout", "eval")


def random_positives(seed: int, users: int = 30, most: int = 40) -> Positives:
    """Users with 1..most positives at random times: some sparse, some long, ties included."""
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{rng.integers(60)}", 5.0, int(t))
        for u in range(users)
        for t in rng.integers(0, 500, rng.integers(1, most))
    ]
    return preprocess(table(rows), PreprocessConfig(dedupe=False))


def old_windows(p: Positives, data: ProtocolData, config: ProtocolConfig) -> list[dict[str, Windows]]:
    """The windows as cut before shorter contexts existed: the role rule straight on each block's segments."""
    segs = segments(p.user, data.block_of_row)
    seg_block = data.block_of_row[segs.start]
    return [
        {
            role: windows_at(rows, p.user, p.item, p.ts, config.context_len)
            for role, rows in role_targets(segs.start[seg_block == i], segs.length[seg_block == i], config).items()
        }
        for i in range(len(data.blocks))
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "config",
    [
        ProtocolConfig(),
        ProtocolConfig(context_len=3, holdout_targets=2, eval_stride=2, train_stride=3),
        ProtocolConfig(cutoffs=(0.3, 0.5, 0.9), context_len=5, holdout_targets=1, eval_stride=4),
    ],
)
def test_default_windows_are_bit_identical_to_the_full_context_rule(seed: int, config: ProtocolConfig) -> None:
    p = random_positives(seed)
    data = build_protocol(p, config)
    for block, old in zip(data.blocks, old_windows(p, data, config), strict=True):
        for role in ROLES:
            new = getattr(block, role)
            for field in ("user", "context", "target", "ts"):
                mine, theirs = getattr(new, field), getattr(old[role], field)
                assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), (block.name, role, field)


def positions(p: Positives, data: ProtocolData, block: int) -> dict[int, np.ndarray]:
    """Per user, the rows of its sequence in ``block``."""
    rows = np.flatnonzero(data.block_of_row == block)
    return {int(u): rows[p.user[rows] == u] for u in np.unique(p.user[rows])}


def test_min_context_1_makes_a_window_of_every_positive_after_the_users_first_in_the_block() -> None:
    p = random_positives(3)
    config = ProtocolConfig(context_len=4, min_context_len=1, holdout_targets=2, eval_stride=1)
    data = build_protocol(p, config)
    for index, block in enumerate(data.blocks):
        expected = {(u, int(r)) for u, rows in positions(p, data, index).items() for r in rows[1:]}
        # Stride 1 everywhere: every target is an evaluation window, and train/valid/held-out partition them.
        made = {(int(u), int(t)) for u, t in zip(block.eval.user, block.eval.ts, strict=True)}
        assert len(block.eval) == len(expected) == block.n_targets
        parts = sum(len(getattr(block, r)) for r in ("train", "valid", "holdout"))
        assert parts == len(expected)
        assert made == {(u, int(p.ts[r])) for u, r in expected}
        assert block.n_window_users == sum(len(rows) > 1 for rows in positions(p, data, index).values())


def test_short_contexts_are_left_padded_with_the_users_own_earlier_items() -> None:
    p = random_positives(4)
    config = ProtocolConfig(context_len=5, min_context_len=2, eval_stride=1)
    data = build_protocol(p, config)
    for index, block in enumerate(data.blocks):
        for u, rows in positions(p, data, index).items():
            mine = block.eval.user == u
            for position, context in zip(range(2, len(rows)), block.eval.context[mine], strict=True):
                real = p.item[rows[max(position - 5, 0) : position]]
                assert context.tolist() == [PADDING_ITEM] * (5 - len(real)) + real.tolist()
            assert mine.sum() == max(len(rows) - 2, 0)


def test_contexts_across_blocks_read_earlier_blocks_but_targets_stay_inside() -> None:
    p = random_positives(5)
    L = 4
    config = ProtocolConfig(context_len=L, min_context_len=1, context_across_blocks=True, eval_stride=1)
    data = build_protocol(p, config)
    starts = np.concatenate([[-np.inf], data.boundaries, [np.inf]])
    reached_back = 0
    for index, block in enumerate(data.blocks):
        for part in (getattr(block, r) for r in ROLES):
            assert np.all((part.ts >= starts[index]) & (part.ts < starts[index + 1]))
        for u, rows in positions(p, data, index).items():
            history = np.flatnonzero(p.user == u)  # the user's rows in every block, in order
            first = int(np.searchsorted(history, rows[0]))
            mine = block.eval.user == u
            # Only the user's very first positive has nothing before it.
            targets = [r for r in rows if r != history[0]]
            assert mine.sum() == len(targets)
            for row, context in zip(targets, block.eval.context[mine], strict=True):
                at = int(np.searchsorted(history, row))
                real = p.item[history[max(at - L, 0) : at]]
                assert context.tolist() == [PADDING_ITEM] * (L - len(real)) + real.tolist()
                reached_back += at - L < first and first > 0
    assert reached_back > 0, "some contexts must hold earlier blocks' items"


ROLE_BASE = ProtocolConfig(context_len=5, holdout_targets=2, eval_stride=3)


@pytest.mark.parametrize(
    "wider",
    [
        replace(ROLE_BASE, min_context_len=1),
        replace(ROLE_BASE, min_context_len=3),
        replace(ROLE_BASE, context_across_blocks=True),
    ],
)
def test_a_positive_keeps_its_role_whatever_the_context_setting(wider: ProtocolConfig) -> None:
    """Roles are positional: a shorter or wider context adds windows but never moves a positive to another role."""
    p = random_positives(6)
    default, more = build_protocol(p, ROLE_BASE), build_protocol(p, wider)
    assert sum(b.n_targets for b in more.blocks) > sum(b.n_targets for b in default.blocks)
    for before, after in zip(default.blocks, more.blocks, strict=True):
        roles_after = {role: keys(getattr(after, role)) for role in ROLES}
        for role in ROLES:
            assert keys(getattr(before, role)) <= roles_after[role], role
        held = roles_after["holdout"]
        assert not held & (roles_after["train"] | roles_after["valid"])
        assert not roles_after["train"] & roles_after["valid"]
        assert len(after.holdout) <= 2 * len(np.unique(after.holdout.user))
        assert len(after.valid) <= 2 * len(np.unique(after.valid.user))
        # Every user with a window has its last target held out and evaluated.
        assert len(np.unique(after.holdout.user)) == len(np.unique(after.eval.user)) == after.n_window_users
