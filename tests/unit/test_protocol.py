"""Preprocessing, the time split and right-aligned windows."""

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from raie.config import PreprocessConfig, ProtocolConfig
from raie.data.schema import INTERACTIONS_SCHEMA
from raie.protocol.blocks import build_protocol
from raie.protocol.preprocess import preprocess
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
