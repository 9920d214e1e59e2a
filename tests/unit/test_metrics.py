"""Hand-computed checks of the one metrics module."""

import math

import numpy as np
import pytest
import torch

from raie.metrics import ndcg_at, recall_at, summarize, target_ranks, user_mean

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
