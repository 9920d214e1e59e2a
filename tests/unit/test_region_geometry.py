"""A region's per-sample updates: the count-weighted centre and the quantile-tracking radius."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from raie.regions.geometry import absorb_direction, normalize, track_quantile
from tests.unit.regions_data import around, axis

pytestmark = pytest.mark.unit

QUANTILE = 0.9
CAP = np.pi / 2

Spread = Callable[[np.random.Generator, int], np.ndarray]
SPREADS: dict[str, Spread] = {
    # A tight high-dimensional cluster, a half-normal one and a long exponential tail (radians).
    "concentrated": lambda rng, n: np.abs(rng.normal(0.5, 0.05, n)),
    "half-normal": lambda rng, n: np.abs(rng.normal(0.0, 0.3, n)),
    "exponential": lambda rng, n: rng.exponential(0.2, n),
}


def track(radius: float, count: int, distances: np.ndarray) -> float:
    for i, d in enumerate(distances):
        radius = track_quantile(radius, float(d), count + i, QUANTILE, CAP)
    return radius


@pytest.mark.parametrize("spread", sorted(SPREADS))
@pytest.mark.parametrize(("start", "count"), [(0.5, 100), (1.5, 100), (2.0, 1)])
def test_the_radius_tracker_converges_to_the_quantile(spread: str, start: float, count: int) -> None:
    rng = np.random.default_rng(0)
    target = float(np.quantile(SPREADS[spread](rng, 400_000), QUANTILE))
    radius = track(start * target, count, SPREADS[spread](rng, 20_000))
    # 5%: the slowest case, the exponential tail started at half its quantile, ends about 3% off.
    assert radius == pytest.approx(target, rel=0.05)


@pytest.mark.parametrize("spread", sorted(SPREADS))
def test_started_at_the_quantile_the_radius_stays_there(spread: str) -> None:
    # The Set-up case: the radius is the members' quantile and the stream is more of the same.
    rng = np.random.default_rng(1)
    members = SPREADS[spread](rng, 3000)
    radius = track(float(np.quantile(members, QUANTILE)), len(members), SPREADS[spread](rng, 9000))
    assert radius == pytest.approx(float(np.quantile(members, QUANTILE)), rel=0.03)


def test_the_radius_never_passes_the_cap_and_a_zero_radius_can_grow() -> None:
    assert track_quantile(CAP * 0.99, 3.0, 0, QUANTILE, CAP) == CAP
    assert track(0.0, 0, np.full(50, 0.2)) > 0.1


def test_the_centre_is_the_running_mean_of_its_members() -> None:
    # One member at 0 degrees, one at 90: the mean of the two lies at 45.
    centre = absorb_direction(axis(2, 0), axis(2, 1), count=1)
    assert np.allclose(centre, normalize(np.array([1.0, 1.0])))


def test_the_centre_remembers_the_members_it_was_built_from() -> None:
    # 1,000 members at axis 0, then 300 from 60 degrees away: the centre moves about
    # 300 / 1,300 of the way, where an EMA at rate 0.01 would have forgotten axis 0.
    far = around(axis(8, 0), 60.0, 1, np.random.default_rng(2))[0]
    centre = axis(8, 0)
    for i in range(300):
        centre = absorb_direction(centre, far, count=1000 + i)
    moved = np.rad2deg(np.arccos(np.clip(float(centre @ axis(8, 0)), -1.0, 1.0)))
    assert 8.0 < moved < 20.0
    assert float(np.linalg.norm(centre)) == pytest.approx(1.0, abs=1e-6)
