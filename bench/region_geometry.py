"""Does region editing keep the Set-up geometry on a stationary stream, and follow a drifting one?

No model is trained: representations are drawn on the unit sphere (H = 64, SASRec's
size) from a mixture of K well-separated clusters, each member at a random
angle from its cluster's axis (log-normal around ``--spread`` degrees) and owned
by one of the cluster's users. Set-up's regions are built the way Set-up builds
them (``RegionBank.build``: spherical k-means, ``radius_quantile`` radii) from
``--setup`` samples; then ``--stream`` samples, in order, go through
``RegionEditor.edit`` with the default ``RegionConfig`` and their user ids:

- ``stationary``: the same mixture. Expect no new region, radii at the
  Set-up quantile, centres where they were.
- ``drifting``: every cluster's axis turns ``--turn`` degrees over the stream,
  and a new cluster (its own users) takes ``--new-share`` of the second half.
  Expect one new region, centres that follow part of the turn (a region
  remembers its Set-up members, so it moves about as far as the running mean
  of all its members does), radii that widen to cover it.

Prints the ops and the regions created, then per region (angles in degrees):
``setup_n`` and ``absorbed`` members; ``setup_R`` and ``R``, the radius as built and
after the stream; ``R_vs_setup``; ``R_vs_owned_q``, R against the exact quantile of
the angles of every sample (Set-up's and the stream's) that the region owns after
the edits (nearest centre, as adapters' data is owned); ``moved``, the centre's
move; ``setup_err`` and ``err_now``, the centre's angle to its cluster's true axis
as built and at the stream's end (after the turn, when drifting). Under a minute
on one core.

    python bench/region_geometry.py [--stream 9000] [--spread 30] [--turn 20]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from raie.config import RegionConfig
from raie.regions.bank import RegionBank
from raie.regions.editor import RegionEditor
from raie.regions.geometry import angular_distance, normalize, quantile_radius
from raie.tabular import format_text_table

DIM = 64
CLUSTERS = 3
USERS_PER_CLUSTER = 200
"""Enough that every buffer cluster of a real group clears ``add_min_users``."""
SPREAD_SIGMA = 0.15
"""Log-normal sigma of members' angles: a tail a few degrees long, like real representations'."""
HEADER = [
    "region",
    "setup_n",
    "absorbed",
    "setup_R",
    "R",
    "R_vs_setup",
    "R_vs_owned_q",
    "moved",
    "setup_err",
    "err_now",
]


@dataclass(frozen=True)
class Stream:
    x: np.ndarray  # float32 [N, H], unit rows
    users: np.ndarray  # int64 [N]
    cluster: np.ndarray  # int64 [N], the generating cluster (CLUSTERS: the new one)
    final_axes: np.ndarray  # float64 [K, H], the K clusters' axes at the last sample


def directions(rng: np.random.Generator) -> np.ndarray:
    """Orthonormal rows: K cluster axes, K directions they turn towards, one new cluster's axis."""
    q, _ = np.linalg.qr(rng.normal(size=(DIM, 2 * CLUSTERS + 1)))
    return q.T


def draw(centres: np.ndarray, spread_deg: float, rng: np.random.Generator) -> np.ndarray:
    """One member per row of ``centres``, at a log-normal angle from it in a random direction."""
    tangent = rng.normal(size=centres.shape)
    tangent -= (tangent * centres).sum(axis=1, keepdims=True) * centres
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    angle = np.deg2rad(spread_deg * rng.lognormal(0.0, SPREAD_SIGMA, size=(len(centres), 1)))
    return normalize(np.cos(angle) * centres + np.sin(angle) * tangent)


def stream(
    axes: np.ndarray, n: int, spread: float, rng: np.random.Generator, *, turn: float = 0.0, new_share: float = 0.0
) -> Stream:
    """``n`` samples in time order; the K axes turn ``turn`` degrees over the stream, and the
    new cluster takes ``new_share`` of the second half."""
    progress = np.arange(n) / max(n - 1, 1)
    cluster = rng.integers(CLUSTERS, size=n)
    cluster[(progress >= 0.5) & (rng.random(n) < new_share)] = CLUSTERS
    old = cluster % CLUSTERS
    theta = np.deg2rad(turn * progress)[:, None]
    turned = np.cos(theta) * axes[old] + np.sin(theta) * axes[CLUSTERS + old]
    centres = np.where((cluster == CLUSTERS)[:, None], axes[2 * CLUSTERS], turned)
    users = cluster * USERS_PER_CLUSTER + rng.integers(USERS_PER_CLUSTER, size=n)
    final = np.cos(np.deg2rad(turn)) * axes[:CLUSTERS] + np.sin(np.deg2rad(turn)) * axes[CLUSTERS : 2 * CLUSTERS]
    return Stream(draw(centres, spread, rng), users.astype(np.int64), cluster, final)


def run(name: str, axes: np.ndarray, setup: Stream, live: Stream, quantile: float) -> None:
    config = RegionConfig(regions=CLUSTERS, radius_quantile=quantile)
    bank = RegionBank.build(setup.x, CLUSTERS, quantile=quantile, seed=0)
    built = bank.copy()
    editor = RegionEditor(bank, config, seed=0)
    started = time.perf_counter()
    editor.edit(live.x, users=live.users)
    seconds = time.perf_counter() - started
    edits = editor.close_slice()
    # Every sample so far, owned the way adapters' data is: by the nearest centre after the edits.
    members = np.concatenate([setup.x, live.x])
    owner = (members @ bank.centres.T).argmax(axis=1)
    rows = []
    for i, region_id in enumerate(bank.ids.tolist()):
        exact = quantile_radius(angular_distance(members[owner == i], bank.centres[i : i + 1])[:, 0], quantile)
        radius = f"{np.rad2deg(bank.radius[i]):.2f}"
        versus_exact = f"{bank.radius[i] / exact - 1:+.1%}"
        if region_id not in built.ids:
            rows.append([str(region_id), "0", str(bank.count[i]), "-", radius, "new", versus_exact, "-", "-", "-"])
            continue
        j = built.index_of(region_id)
        cluster = int((built.centres[j] @ axes[:CLUSTERS].T).argmax())
        rows.append(
            [
                str(region_id),
                str(built.count[j]),
                str(bank.count[i] - built.count[j]),
                f"{np.rad2deg(built.radius[j]):.2f}",
                radius,
                f"{bank.radius[i] / built.radius[j] - 1:+.1%}",
                versus_exact,
                degrees(bank.centres[i], built.centres[j]),
                degrees(built.centres[j], axes[cluster]),
                degrees(bank.centres[i], live.final_axes[cluster]),
            ]
        )
    print(f"\n{name}: {len(live.x):,} samples in {seconds:.1f} s; ops {edits.totals()}; new regions {edits.created}")
    print(format_text_table(HEADER, rows))
    if (live.cluster == CLUSTERS).any():
        truth = live.x[live.cluster == CLUSTERS]
        own = (truth @ bank.centres.T).argmax(axis=1)
        print(f"new cluster's samples nearest a created region: {np.isin(bank.ids[own], edits.created).mean():.0%}")


def degrees(a: np.ndarray, b: np.ndarray) -> str:
    return f"{np.rad2deg(angular_distance(a[None, :], b[None, :])[0, 0]):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", type=int, default=3000, help="Set-up samples (k-means members)")
    parser.add_argument("--stream", type=int, default=9000, help="samples edited after Set-up")
    parser.add_argument("--spread", type=float, default=30.0, help="median angle of a member to its axis, degrees")
    parser.add_argument("--turn", type=float, default=20.0, help="drifting: how far every axis turns, degrees")
    parser.add_argument("--new-share", type=float, default=0.2, help="drifting: the new cluster's share of half 2")
    parser.add_argument("--quantile", type=float, default=RegionConfig().radius_quantile)
    args = parser.parse_args()
    population = args.spread * np.exp(NormalDist().inv_cdf(args.quantile) * SPREAD_SIGMA)
    print(f"population {args.quantile} quantile of a member's angle to its axis: {population:.2f} degrees")
    rng = np.random.default_rng(0)
    axes = directions(rng)
    setup = stream(axes, args.setup, args.spread, rng)
    run("stationary", axes, setup, stream(axes, args.stream, args.spread, rng), args.quantile)
    drifting = stream(axes, args.stream, args.spread, rng, turn=args.turn, new_share=args.new_share)
    run("drifting", axes, setup, drifting, args.quantile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
