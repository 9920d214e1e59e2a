"""The synthetic scenarios ``raie data synth`` can write, by name, and a one-line summary of each result.

- ``local-drift`` (default, :mod:`raie.data.synthetic_local`): interest groups that stay,
  shift or appear; writes ``groups.jsonl`` with every user's and business's true group.
- ``user-drift`` (:mod:`raie.data.synthetic`): each user's own preference drifts
  (stable, gradual, abrupt users, plus adopters of a new group); the earlier default.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from raie.data.synthetic import SyntheticConfig, write_synthetic_yelp
from raie.data.synthetic_local import SPARSE_USERS_PER_GROUP, LocalDriftConfig, write_local_drift_yelp
from raie.errors import ConfigError


class Scenario(StrEnum):
    LOCAL_DRIFT = "local-drift"
    USER_DRIFT = "user-drift"


DEFAULT_SCENARIO = Scenario.LOCAL_DRIFT


@dataclass(frozen=True)
class SynthRequest:
    """What the command line asks for; None leaves a value to the scenario's config."""

    scenario: Scenario = DEFAULT_SCENARIO
    seed: int = 0
    users: int | None = None
    """user-drift: users in all; local-drift: users per group."""
    sparse: bool = False
    """local-drift only: Yelp-like sparsity."""
    stable_groups: int | None = None
    shifting_groups: int | None = None
    new_groups: int | None = None

    def local_drift_config(self) -> LocalDriftConfig:
        default = LocalDriftConfig()
        users = SPARSE_USERS_PER_GROUP if self.sparse else default.users_per_group
        return LocalDriftConfig(
            stable_groups=_given(self.stable_groups, default.stable_groups),
            shifting_groups=_given(self.shifting_groups, default.shifting_groups),
            new_groups=_given(self.new_groups, default.new_groups),
            users_per_group=_given(self.users, users),
            sparse=self.sparse,
            seed=self.seed,
        )

    def user_drift_config(self) -> SyntheticConfig:
        local_only = ("sparse", "stable_groups", "shifting_groups", "new_groups")
        for name in local_only:
            if getattr(self, name) not in (None, False):
                raise ConfigError(
                    name, f"does not apply to scenario {self.scenario}", "use it with --scenario local-drift"
                )
        if self.users is None:
            return SyntheticConfig(seed=self.seed)
        return SyntheticConfig(seed=self.seed, n_users=self.users)


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def write_scenario(out_dir: Path, request: SynthRequest) -> str:
    """Write the requested scenario into ``out_dir``; a one-line summary of what was written."""
    if request.scenario is Scenario.USER_DRIFT:
        summary = write_synthetic_yelp(out_dir, request.user_drift_config())
        behaviours = dict(sorted(Counter(b.value for b in summary.behaviours.values()).items()))
        return (
            f"wrote {out_dir} ({request.scenario}): {summary.n_users} users {behaviours}, "
            f"{summary.n_businesses} businesses, {summary.n_reviews} reviews ({summary.n_positive_reviews} "
            f"with stars >= 4), {len(summary.adopters)} adopters of the new interest group"
        )
    config = request.local_drift_config()
    local = write_local_drift_yelp(out_dir, config)
    kinds = dict(Counter(g.kind.value for g in local.truth.groups))
    return (
        f"wrote {out_dir} ({request.scenario}{', sparse' if config.sparse else ''}): {local.n_users} users in "
        f"{len(local.truth.groups)} groups {kinds}, {local.n_businesses} businesses, {local.n_reviews} reviews "
        f"({local.n_positive_reviews} with stars >= 4); true groups in groups.jsonl"
    )
