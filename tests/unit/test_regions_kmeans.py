"""Spherical k-means: agrees with sklearn on normalised data, deterministic, no empty clusters."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from raie.regions.geometry import normalize
from raie.regions.kmeans import spherical_kmeans
from tests.unit.regions_data import three_clusters

pytestmark = pytest.mark.unit


def test_matches_sklearn_kmeans_on_normalised_data() -> None:
    x = three_clusters(np.random.default_rng(0))
    ours = spherical_kmeans(x, 3, seed=0)
    theirs = KMeans(n_clusters=3, n_init=4, random_state=0).fit(normalize(x))
    assert adjusted_rand_score(ours.labels, theirs.labels_) == pytest.approx(1.0)
    # Centres agree up to order: sklearn's means, normalised, are our centres.
    their_centres = normalize(theirs.cluster_centers_)
    best = (ours.centres @ their_centres.T).max(axis=1)
    assert np.all(best > 0.999)


def test_centres_are_unit_vectors_and_labels_are_nearest() -> None:
    x = normalize(np.random.default_rng(1).normal(size=(300, 16)))
    result = spherical_kmeans(x, 5, seed=3)
    assert np.allclose(np.linalg.norm(result.centres, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(result.labels, (x @ result.centres.T).argmax(axis=1))


def test_same_seed_same_clustering_and_different_seed_runs() -> None:
    x = normalize(np.random.default_rng(2).normal(size=(400, 8)))
    a, b = spherical_kmeans(x, 4, seed=11), spherical_kmeans(x, 4, seed=11)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.centres, b.centres)
    assert spherical_kmeans(x, 4, seed=12).centres.shape == (4, 8)


def test_no_cluster_is_left_empty_even_with_duplicate_points() -> None:
    # Five distinct points, one of them repeated 50 times: k-means++ may seed two
    # centres on identical points, and one cluster would then go empty.
    rng = np.random.default_rng(4)
    distinct = normalize(rng.normal(size=(5, 6)))
    x = np.concatenate([np.repeat(distinct[:1], 50, axis=0), distinct[1:]])
    result = spherical_kmeans(x, 5, seed=0)
    assert np.all(np.linalg.norm(result.centres, axis=1) > 0.99)
    assert len(np.unique(result.labels)) == 5


def test_too_few_points_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot form 4 clusters from 3 points"):
        spherical_kmeans(np.eye(3, dtype=np.float32), 4, seed=0)


def test_an_empty_cluster_takes_over_the_worst_fitting_point() -> None:
    from raie.regions.kmeans import _update_centres

    x = normalize(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32))
    labels = np.zeros(3, dtype=np.int64)  # cluster 1 has no members
    best = (x @ x[0]).astype(np.float32)
    centres = _update_centres(x, labels, best, 2)
    assert np.allclose(centres[1], x[2])
