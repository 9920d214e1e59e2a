"""Hand-computed checks of the one metrics module."""

import math

import numpy as np
import pytest
import torch

from raie.config import ProtocolConfig
from raie.evaluation import Ranking, recall_by_target_kind
from raie.metrics import (
    kind_order,
    ndcg_at,
    recall_at,
    recall_by_kind,
    summarize,
    target_kind_names,
    target_kinds,
    target_ranks,
    user_mean,
)
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import Positives
from raie.protocol.windows import Windows

pytestmark = pytest.mark.unit


def ranks_of(scores: list[list[float]], context: list[list[int]], target: list[int]) -> list[int]:
    return target_ranks(torch.tensor(scores, dtype=torch.float32), torch.tensor(context), torch.tensor(target)).tolist()


def test_rank_counts_items_ahead_of_the_target() -> None:
    # items 1..5 score 5,4,3,2,1; target 4 scores 2; nothing masked -> rank 4
    assert ranks_of([[0, 5, 4, 3, 2, 1]], [[0, 0]], [4]) == [4]


def test_context_items_are_masked() -> None:
    # context {1, 2} removed; candidates 3 (3), 4 (2), 5 (1) -> rank 2
    assert ranks_of([[0, 5, 4, 3, 2, 1]], [[1, 2]], [4]) == [2]


def test_target_in_context_stays_a_candidate() -> None:
    # context {1, 4}: 1 removed, 4 is the target and stays -> 2 (4), 3 (3), 4 (2) -> rank 3
    assert ranks_of([[0, 5, 4, 3, 2, 1]], [[1, 4]], [4]) == [3]


def test_padding_is_never_a_candidate() -> None:
    assert ranks_of([[99, 1, 2, 3]], [[0, 0]], [3]) == [1]


def test_ties_are_pessimistic_so_a_constant_scorer_scores_zero() -> None:
    ranks = np.array(ranks_of([[0.0] * 30], [[1, 2]], [5]))
    assert ranks.tolist() == [27]  # 29 real items - 2 masked, target last
    assert recall_at(ranks, 20).tolist() == [0.0]


def test_recall_and_ndcg_by_hand() -> None:
    ranks = np.array([1, 3, 11])
    assert recall_at(ranks, 10).tolist() == [1.0, 1.0, 0.0]
    assert ndcg_at(ranks, 10).tolist() == pytest.approx([1.0, 1 / math.log2(4), 0.0])
    assert ndcg_at(ranks, 20)[2] == pytest.approx(1 / math.log2(12))


def test_per_user_mean_weights_users_equally() -> None:
    # user 7 hits 2 of 2, user 9 hits 0 of 1: window mean 2/3, user mean 1/2
    values = np.array([1.0, 1.0, 0.0])
    users = np.array([7, 7, 9])
    assert values.mean() == pytest.approx(2 / 3)
    assert user_mean(values, users) == pytest.approx(0.5)


def test_summarize_covers_every_metric_k_and_average() -> None:
    out = summarize(np.array([1, 6, 30]), np.array([0, 0, 1]))
    keys = {(v.metric, v.k, v.average) for v in out}
    assert keys == {(m, k, a) for m in ("recall", "ndcg") for k in (5, 10, 20) for a in ("window", "user")}
    by_key = {(v.metric, v.k, v.average): v.value for v in out}
    assert by_key[("recall", 10, "window")] == pytest.approx(2 / 3)
    assert by_key[("recall", 5, "user")] == pytest.approx((0.5 + 0.0) / 2)
    assert by_key[("ndcg", 10, "window")] == pytest.approx((1.0 + 1 / math.log2(7)) / 3)


def tiny_protocol() -> ProtocolData:
    """20 positives at ts 0..19: S is ts 0-9, F 10-15, T 16-19 (cutoffs 0.5 / 0.8).

    Item 1, 2 and 5 are first positives in S, item 3 in F (ts 10), item 4 in T (ts 18).
    User 0's T sequence is 3, 1, 4, 3: its evaluation targets (L = 1, stride 1) are 1, 4, 3.
    """
    rows = [(0, 0, 1), (0, 1, 2), (0, 10, 3), (0, 16, 3), (0, 17, 1), (0, 18, 4), (0, 19, 3)]
    rows += [(1, t, item) for t, item in zip(range(2, 10), [1, 2, 5, 1, 2, 5, 1, 2], strict=True)]
    rows += [(1, t, item) for t, item in zip(range(11, 16), [5, 3, 5, 3, 5], strict=True)]
    user, ts, item = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    positives = Positives(user, item, ts, ["u0", "u1"], ["a", "b", "c", "d", "e"])
    return build_protocol(positives, ProtocolConfig(context_len=1, eval_stride=1))


def test_a_target_kind_is_the_block_of_the_items_first_positive() -> None:
    data = tiny_protocol()
    assert data.block_of_row.tolist() == [0, 0, 1, 2, 2, 2, 2] + [0] * 8 + [1] * 5
    t = data.block("T").eval
    assert t.target.tolist() == [1, 4, 3]
    assert target_kinds(data, t).tolist() == ["seen_in_S", "first_in_T", "first_in_F"]
    # The kind depends on the target item alone, whatever window asks.
    windows = Windows(np.zeros(3, np.int64), np.zeros((3, 1), np.int64), np.array([3, 5, 2]), np.zeros(3, np.int64))
    assert target_kinds(data, windows).tolist() == ["first_in_F", "seen_in_S", "seen_in_S"]


def test_a_target_that_is_no_positive_is_refused() -> None:
    data = tiny_protocol()
    nothing = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match="no positive"):
        target_kinds(data, Windows(nothing, np.zeros((1, 1), np.int64), nothing, nothing))  # padding item 0


def test_kinds_are_ordered_by_block() -> None:
    assert target_kind_names(("S", "F", "T")) == ("seen_in_S", "first_in_F", "first_in_T")
    assert kind_order(np.array(["first_in_T", "seen_in_S", "first_in_F", "first_in_T"])) == [
        "seen_in_S",
        "first_in_F",
        "first_in_T",
    ]
    slices = np.array(["first_in_slice10", "seen_in_slice0", "first_in_slice2"])
    assert kind_order(slices) == ["seen_in_slice0", "first_in_slice2", "first_in_slice10"]


def test_recall_by_target_kind_counts_windows_per_kind() -> None:
    kinds = np.array(["seen_in_S", "first_in_T", "seen_in_S", "first_in_F"])
    ranking = Ranking(np.array([1, 20, 11, 10]), np.array([0, 0, 1, 1]))
    got = recall_by_target_kind(ranking, kinds, 10)
    assert list(got) == ["seen_in_S", "first_in_F", "first_in_T"]
    assert got == {"seen_in_S": (0.5, 2), "first_in_F": (1.0, 1), "first_in_T": (0.0, 1)}
    with pytest.raises(ValueError, match="shape"):
        recall_by_kind(np.array([1]), kinds, 10)
