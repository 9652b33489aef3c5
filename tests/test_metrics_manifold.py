"""k-NN manifold metrics (gans.metrics.manifold): blocked computation against a dense numpy
reference written from the papers' definitions, and planted manifolds with known answers."""

import numpy as np
import pytest

from gans.metrics import manifold


def _dense_distances(a, b):
    return np.sqrt(((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1))


def _kth_radii(x, k):
    d = _dense_distances(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def _dense_metrics(real, fake, k_pr, k_dc):
    d = _dense_distances(real, fake)  # [N, M]
    real_pr, fake_pr, real_dc = _kth_radii(real, k_pr), _kth_radii(fake, k_pr), _kth_radii(real, k_dc)
    precision = np.mean([np.any(d[:, j] <= real_pr) for j in range(fake.shape[0])])
    recall = np.mean([np.any(d[i, :] <= fake_pr) for i in range(real.shape[0])])
    density = np.sum(d < real_dc[:, None]) / (k_dc * fake.shape[0])
    coverage = np.mean(np.min(d, axis=1) < real_dc)
    return precision, recall, density, coverage


@pytest.mark.parametrize('block_size', [7, 1024])
def test_blocked_kth_neighbour_distances_equal_dense(block_size):
    x = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    for k in (1, 3, 5):
        got = manifold.kth_neighbour_distances(x, k, block_size=block_size)
        np.testing.assert_allclose(got, _kth_radii(x, k), rtol=1e-4)


@pytest.mark.parametrize('block_size', [16, 1024])
def test_blocked_metrics_equal_dense_reference(block_size):
    rng = np.random.default_rng(1)
    real = rng.standard_normal((70, 5)).astype(np.float32)
    fake = (rng.standard_normal((45, 5)) * 1.2 + 0.5).astype(np.float32)
    got = manifold.manifold_metrics(real, fake, k_pr=3, k_dc=5, block_size=block_size)
    expected = _dense_metrics(real, fake, 3, 5)
    np.testing.assert_allclose([got.precision, got.recall, got.density, got.coverage], expected, rtol=1e-6)
    assert 0 < got.precision < 1 and 0 < got.recall < 1  # The comparison is not between extremes.
    assert (got.num_real, got.num_fake, got.k_pr, got.k_dc) == (70, 45, 3, 5)


def test_identical_sets_are_perfect():
    x = np.random.default_rng(2).standard_normal((120, 8)).astype(np.float32)
    got = manifold.manifold_metrics(x, x, block_size=32)
    assert (got.precision, got.recall, got.coverage) == (1.0, 1.0, 1.0)
    assert got.density == pytest.approx(1.0, abs=0.02)


def test_subset_of_one_cluster_has_full_precision_and_partial_recall():
    rng = np.random.default_rng(3)
    # Reference: two far-apart clusters of 150 points; fakes: 60 real points of cluster A only.
    cluster_a = rng.standard_normal((150, 4))
    cluster_b = rng.standard_normal((150, 4)) + 50.0
    real = np.concatenate([cluster_a, cluster_b]).astype(np.float32)
    fake = cluster_a[rng.choice(150, 60, replace=False)].astype(np.float32)
    got = manifold.manifold_metrics(real, fake, block_size=64)
    assert got.precision == 1.0
    # No ball around a fake reaches cluster B, so recall and coverage are at most 1/2.
    assert 0.2 < got.recall <= 0.5
    assert 0.1 < got.coverage <= 0.5


def test_fakes_far_from_the_reference_score_zero():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((60, 3)).astype(np.float32)
    fake = (rng.standard_normal((40, 3)) + 100.0).astype(np.float32)
    got = manifold.manifold_metrics(real, fake, block_size=16)
    assert (got.precision, got.recall, got.density, got.coverage) == (0.0, 0.0, 0.0, 0.0)


def test_bad_inputs_name_the_problem():
    x = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match='at least k \\+ 1 = 6'):
        manifold.manifold_metrics(x[:5], x)
    with pytest.raises(ValueError, match='feature dims differ'):
        manifold.manifold_metrics(x, np.zeros((10, 4)))
    with pytest.raises(ValueError, match='non-finite'):
        manifold.manifold_metrics(np.full((10, 3), np.nan), x)
    with pytest.raises(ValueError, match='2-D'):
        manifold.kth_neighbour_distances(np.zeros(10), k=3)
