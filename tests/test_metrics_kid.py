"""KID (gans.metrics.kid): the unbiased estimator against a direct loop, and its unbiasedness."""

import numpy as np
import pytest

from gans.metrics import kid


def _kernel(a, b):
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def test_unbiased_estimator_matches_direct_loop():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((7, 3)) + 0.5
    m, n, d = len(x), len(y), x.shape[1]
    k = lambda a, b: (sum(a[t] * b[t] for t in range(d)) / d + 1.0) ** 3
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    got = float(kid.mmd2_unbiased(x.astype(np.float32), y.astype(np.float32)))
    assert got == pytest.approx(xx + yy - 2 * xy, rel=1e-5, abs=1e-6)


def _v_statistic(x, y):
    return _kernel(x, x).mean() + _kernel(y, y).mean() - 2 * _kernel(x, y).mean()


def test_same_distribution_gives_zero_mean_while_v_statistic_is_biased_up():
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((3000, 4)), rng.standard_normal((3000, 4))
    result = kid.kernel_inception_distance(real, fake, num_subsets=2000, subset_size=10, seed=0)
    standard_error = result.std / np.sqrt(result.num_subsets)
    assert abs(result.mean) < 4 * standard_error
    v_stats = [_v_statistic(real[rng.choice(3000, 10, replace=False)], fake[rng.choice(3000, 10, replace=False)])
               for _ in range(2000)]
    assert np.mean(v_stats) > 10 * np.std(v_stats) / np.sqrt(len(v_stats)) + abs(result.mean)


def test_small_subsets_average_to_the_large_sample_value():
    # A subset's MMD^2_u averages exactly to the full-sample MMD^2_u (it is a U-statistic).
    rng = np.random.default_rng(2)
    real = rng.standard_normal((1500, 4))
    fake = rng.standard_normal((1500, 4)) * 1.3 + 0.4
    m = len(real)
    full = ((_kernel(real, real).sum() - np.trace(_kernel(real, real))) / (m * (m - 1))
            + (_kernel(fake, fake).sum() - np.trace(_kernel(fake, fake))) / (m * (m - 1))
            - 2 * _kernel(real, fake).mean())
    result = kid.kernel_inception_distance(real, fake, num_subsets=2000, subset_size=20, seed=3)
    assert full > 0.5  # Clearly different distributions, so the check below is not about zero.
    assert result.mean == pytest.approx(full, abs=4 * result.std / np.sqrt(result.num_subsets))


def test_result_records_protocol_and_is_seeded():
    rng = np.random.default_rng(4)
    real, fake = rng.standard_normal((50, 3)), rng.standard_normal((40, 3))
    a = kid.kernel_inception_distance(real, fake, num_subsets=5, subset_size=1000, seed=7)
    assert (a.subset_size, a.num_subsets, a.num_real, a.num_fake, a.seed) == (40, 5, 50, 40, 7)
    assert a == kid.kernel_inception_distance(real, fake, num_subsets=5, subset_size=1000, seed=7)
    # Subsets of 40 from 50 real rows differ between seeds, so the estimates do too.
    assert a.mean != kid.kernel_inception_distance(real, fake, num_subsets=5, subset_size=1000, seed=8).mean


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match='>= 2 samples'):
        kid.kernel_inception_distance(np.zeros((1, 3)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match='feature dims differ'):
        kid.kernel_inception_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match='2-D'):
        kid.kernel_inception_distance(np.zeros(10), np.zeros((10, 1)))
