"""The user-clustered paired bootstrap against a loop over resamples, and against the window bootstrap."""

import numpy as np
import pytest

from raie.significance import SeedPair, _resampled_means, clustered_bootstrap, paired_bootstrap

pytestmark = pytest.mark.unit


def brute_force(pairs: list[SeedPair], samples: int, seed: int) -> tuple[float, float, float]:
    """The clustered bootstrap as written in words: users drawn, their windows pooled, seeds averaged."""
    distinct = np.unique(pairs[0].users)
    draws = np.random.default_rng(seed).integers(0, len(distinct), size=(samples, len(distinct)))
    means = []
    for row in draws:
        per_seed = []
        for users, a, b in pairs:
            windows = np.concatenate([np.flatnonzero(users == distinct[i]) for i in row])
            per_seed.append(float(np.mean(a[windows] - b[windows])))
        means.append(np.mean(per_seed))
    low, high = np.quantile(means, [0.025, 0.975])
    point = np.mean([np.mean(a - b) for _, a, b in pairs])
    return float(point), float(low), float(high)


def heterogeneous_users(n_users: int, per_user: int, rng: np.random.Generator, seeds: int = 1) -> list[SeedPair]:
    """Each user has its own hit rates, so a user's windows move together."""
    users = np.repeat(np.arange(n_users) * 7 + 3, per_user)  # sparse, non-zero ids
    rate_a = np.repeat(rng.uniform(0, 1, n_users), per_user)
    rate_b = np.repeat(rng.uniform(0, 1, n_users), per_user)
    return [
        SeedPair(users, (rng.random(len(users)) < rate_a) * 1.0, (rng.random(len(users)) < rate_b) * 1.0)
        for _ in range(seeds)
    ]


def test_equals_a_loop_over_resamples_on_a_tiny_input() -> None:
    users = np.array([5, 5, 5, 2, 9, 9, 2, 5, 11])  # unequal window counts, not sorted
    rng = np.random.default_rng(3)
    pairs = [SeedPair(users, rng.random(len(users)), rng.random(len(users))) for _ in range(3)]
    got = clustered_bootstrap(pairs, seed=11, samples=200)
    point, low, high = brute_force(pairs, samples=200, seed=11)
    assert (got.mean, got.low, got.high) == pytest.approx((point, low, high), abs=1e-12)


def test_counting_in_blocks_draws_the_same_users() -> None:
    user_sum, user_windows = np.array([1.0, -2.0, 0.5]), np.array([2.0, 5.0, 1.0])  # odd draws per block

    def means(rows_per_block: int) -> np.ndarray:
        return _resampled_means(user_sum, user_windows, 100, np.random.default_rng(4), rows_per_block)

    assert np.array_equal(means(7), means(100))  # 15 blocks (the last of 2 rows) against one


def test_wider_than_the_window_bootstrap_when_users_differ() -> None:
    pairs = heterogeneous_users(20, 40, np.random.default_rng(1))
    clustered = clustered_bootstrap(pairs)
    windows = paired_bootstrap(pairs[0].a, pairs[0].b)
    assert clustered.mean == pytest.approx(windows.mean)
    assert clustered.high - clustered.low > 2 * (windows.high - windows.low)


def test_one_user_has_nothing_to_resample() -> None:
    users = np.zeros(4, dtype=np.int64)
    d = clustered_bootstrap([SeedPair(users, np.array([1.0, 1, 0, 1]), np.zeros(4))])
    assert d.mean == d.low == d.high == pytest.approx(0.75)
    assert d.significant


def test_the_point_is_the_mean_over_seeds_of_per_seed_differences() -> None:
    users = np.array([0, 0, 1])
    pairs = [SeedPair(users, np.array([1.0, 1, 1]), np.zeros(3)), SeedPair(users, np.zeros(3), np.zeros(3))]
    assert clustered_bootstrap(pairs).mean == pytest.approx(0.5)


def test_seeds_must_score_the_same_windows() -> None:
    a = SeedPair(np.array([0, 1]), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="seed 1"):
        clustered_bootstrap([a, SeedPair(np.array([1, 0]), np.zeros(2), np.zeros(2))])
    with pytest.raises(ValueError, match="seed 0"):
        clustered_bootstrap([SeedPair(np.array([0, 1]), np.zeros(3), np.zeros(2))])


def test_no_windows_give_no_interval() -> None:
    empty = np.zeros(0)
    d = clustered_bootstrap([SeedPair(empty.astype(np.int64), empty, empty)])
    assert np.isnan(d.mean) and not d.significant
