"""Region recovery: how well knowledge regions match known interest groups.

On synthetic data the true group of every user is known
(:mod:`raie.data.synthetic_groups`), so each window's region can be compared
with its user's group. The score is the adjusted Rand index (Hubert & Arabie
1985): pair counting, corrected for chance, so 1 means the same partition
(whatever the labels), about 0 means no better than independent labels, and
it does not reward having more or fewer regions than groups. Plain numpy, so
it runs wherever the region engine runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from raie.errors import DataError

IntArray = npt.NDArray[np.int64]


def contingency(first: npt.ArrayLike, second: npt.ArrayLike) -> IntArray:
    """Counts [n_first_labels, n_second_labels] of items labelled (a, b); labels in sorted order."""
    a, b = np.asarray(first), np.asarray(second)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two label vectors of one length, got shapes {a.shape} and {b.shape}")
    rows, a_index = np.unique(a, return_inverse=True)
    cols, b_index = np.unique(b, return_inverse=True)
    flat = np.bincount(a_index * len(cols) + b_index, minlength=len(rows) * len(cols))
    table: IntArray = flat.reshape(len(rows), len(cols)).astype(np.int64)
    return table


def _pairs(counts: IntArray) -> int:
    """Unordered pairs within each count, summed: sum of n (n - 1) / 2, exact in int64."""
    return int((counts * (counts - 1) // 2).sum())


def adjusted_rand_index(labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike) -> float:
    """The adjusted Rand index of two partitions of the same items.

    Symmetric and invariant to relabelling. When neither partition can disagree
    with anything (both put everything in one cluster, or both every item alone,
    or fewer than two items) the index is undefined; it is 1.0 then, as in
    scikit-learn, because the two partitions are identical.
    """
    table = contingency(labels_true, labels_pred)
    n = int(table.sum())
    index = _pairs(table.ravel())
    rows, cols = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    total = n * (n - 1) // 2
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return float((index - expected) / (maximum - expected))


@dataclass(frozen=True)
class Recovery:
    """Regions of some windows scored against their users' true groups."""

    ari: float
    windows: int
    regions: int
    """Distinct regions among the scored windows."""
    groups: int
    """Distinct true groups among the scored windows."""
    table: IntArray
    """Contingency [group, region], rows and columns in sorted label order."""
    group_labels: IntArray
    region_labels: IntArray


def window_groups(window_user: npt.ArrayLike, user_ids: Sequence[str], user_group: Mapping[str, int]) -> IntArray:
    """True group of each window: ``window_user`` holds user indices into ``user_ids``
    (the protocol's ``Windows.user`` and ``Positives.user_ids``)."""
    try:
        by_index = np.asarray([user_group[u] for u in user_ids], dtype=np.int64)
    except KeyError as error:
        raise DataError(
            "groups.jsonl", f"user {error} has no true group", fix="score windows of the same data set"
        ) from error
    groups: IntArray = by_index[np.asarray(window_user, dtype=np.int64)]
    return groups


def score_regions(
    regions: npt.ArrayLike, window_user: npt.ArrayLike, user_ids: Sequence[str], user_group: Mapping[str, int]
) -> Recovery:
    """ARI of the windows' regions (any integer ids) against their users' true groups."""
    groups = window_groups(window_user, user_ids, user_group)
    predicted = np.asarray(regions, dtype=np.int64)
    return Recovery(
        ari=adjusted_rand_index(groups, predicted),
        windows=len(groups),
        regions=len(np.unique(predicted)),
        groups=len(np.unique(groups)),
        table=contingency(groups, predicted),
        group_labels=np.unique(groups),
        region_labels=np.unique(predicted),
    )
