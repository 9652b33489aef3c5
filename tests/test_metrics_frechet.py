"""FID (gans.metrics.frechet) and its streaming statistics against closed forms and scipy."""

import numpy as np
import pytest
import scipy.linalg

from gans.metrics import frechet
from gans.metrics import streaming


def _random_covariance(rng, dim):
    factor = rng.standard_normal((dim, dim))
    return factor @ factor.T / dim + 0.1 * np.eye(dim)


def test_diagonal_covariances_match_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    s1, s2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    got = frechet.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_full_non_commuting_covariances_match_scipy_sqrtm():
    rng = np.random.default_rng(1)
    s1, s2 = _random_covariance(rng, 7), _random_covariance(rng, 7)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    mu1, mu2 = rng.standard_normal(7), rng.standard_normal(7)
    root = scipy.linalg.sqrtm(s1 @ s2)
    assert np.abs(np.imag(root)).max() < 1e-8
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(root))
    assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_singular_covariances_match_nuclear_norm_form():
    # Fewer samples than dims: S_i = U_i^T U_i with U_i = centred X_i / sqrt(n_i - 1), and
    # Tr((S1 S2)^{1/2}) is the nuclear norm of U1 U2^T (eig(S1 S2) = eig(U1 U2^T U2 U1^T)).
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((5, 12)), rng.standard_normal((4, 12)) + 0.3
    u1 = (x1 - x1.mean(0)) / np.sqrt(len(x1) - 1)
    u2 = (x2 - x2.mean(0)) / np.sqrt(len(x2) - 1)
    trace_root = np.linalg.svd(u1 @ u2.T, compute_uv=False).sum()
    s1, s2 = u1.T @ u1, u2.T @ u2
    expected = np.sum((x1.mean(0) - x2.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_root
    got = frechet.frechet_distance(x1.mean(0), s1, x2.mean(0), s2)
    assert got == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((300, 32)).astype(np.float32) * 2.0 + 1.0
    stats = frechet.GaussianStats.from_features(features)
    result = frechet.fid(stats, stats)
    assert abs(result.fid) < 1e-9 * np.trace(stats.cov)
    assert (result.num_real, result.num_fake, result.feature_dim) == (300, 300, 32)


def test_fid_grows_with_a_mean_shift_by_its_squared_norm():
    rng = np.random.default_rng(4)
    features = rng.standard_normal((500, 8))
    shift = rng.standard_normal(8)
    a = frechet.GaussianStats.from_features(features)
    b = frechet.GaussianStats.from_features(features + shift)
    assert frechet.fid(a, b).fid == pytest.approx(shift @ shift, rel=1e-5)


def test_streaming_stats_in_uneven_batches_equal_one_shot_numpy():
    rng = np.random.default_rng(5)
    # A large offset relative to the spread: the raw-moment formula would cancel badly here.
    features = (rng.standard_normal((1000, 16)) @ rng.standard_normal((16, 16)) + 100.0).astype(np.float32)
    accumulator = streaming.GaussianAccumulator()
    for lo, hi in [(0, 1), (1, 8), (8, 300), (300, 301), (301, 777), (777, 1000)]:
        accumulator.update(features[lo:hi])
    stats = accumulator.stats()
    reference = features.astype(np.float64)
    assert stats.num_samples == 1000
    np.testing.assert_allclose(stats.mean, reference.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats.cov, np.cov(reference, rowvar=False), rtol=1e-5, atol=1e-5)


def test_stats_save_and_load_round_trip(tmp_path):
    stats = frechet.GaussianStats.from_features(np.random.default_rng(6).standard_normal((20, 3)))
    path = str(tmp_path / 'stats.npz')
    stats.save(path)
    loaded = frechet.GaussianStats.load(path)
    np.testing.assert_array_equal(loaded.cov, stats.cov)
    assert loaded.num_samples == 20


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match='same length'):
        frechet.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match='not symmetric'):
        frechet.frechet_distance(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match='at least 2 samples'):
        frechet.GaussianStats.from_features(np.zeros((1, 3)))
    with pytest.raises(ValueError, match='2-D'):
        streaming.GaussianAccumulator().update(np.zeros(5))
    with pytest.raises(ValueError, match='feature dim changed'):
        streaming.GaussianAccumulator().update(np.zeros((3, 2))).update(np.zeros((3, 4)))
    a = frechet.GaussianStats.from_features(np.random.default_rng(0).standard_normal((5, 2)))
    b = frechet.GaussianStats.from_features(np.random.default_rng(0).standard_normal((5, 3)))
    with pytest.raises(ValueError, match='feature dims differ'):
        frechet.fid(a, b)
