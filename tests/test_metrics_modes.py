"""2-D mode metrics (gans.metrics.modes) on planted points with known coverage and histograms."""

import numpy as np
import pytest

from gans.data import MIXTURES
from gans.metrics import modes


def _planted(mixture, mode_ids, per_mode, rng, spread=0.5):
    """`per_mode` points on each listed mode, within `spread` std of its center."""
    spec = MIXTURES[mixture]
    centers = spec.centers[np.repeat(mode_ids, per_mode)]
    angles = rng.uniform(0, 2 * np.pi, len(centers))
    radii = spread * spec.std * rng.uniform(0, 1, len(centers))
    return centers + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]


@pytest.mark.parametrize('mixture,mode_ids', [('ring8', [0, 2, 5]), ('grid25', list(range(0, 25, 3)))])
def test_points_planted_on_m_modes_cover_exactly_m(mixture, mode_ids):
    rng = np.random.default_rng(0)
    got = modes.mixture_mode_metrics(_planted(mixture, mode_ids, 40, rng), mixture, min_count=1)
    num_modes = MIXTURES[mixture].num_modes
    assert got.modes_covered == len(mode_ids)
    assert got.high_quality_fraction == 1.0
    assert [i for i, c in enumerate(got.counts) if c] == mode_ids
    # Uniform over m of K modes: KL = log(K / m).
    assert got.kl_to_uniform == pytest.approx(np.log(num_modes / len(mode_ids)), rel=1e-9)


def test_points_far_from_every_mode_are_not_high_quality():
    # Radius 1: halfway between the origin and the ring of radius 2, far beyond 3 std (0.06).
    angles = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    points = np.stack([np.cos(angles), np.sin(angles)], 1)
    got = modes.mixture_mode_metrics(points, 'ring8')
    assert (got.high_quality_fraction, got.modes_covered) == (0.0, 0)
    assert np.isnan(got.kl_to_uniform)


def test_uniform_histogram_has_zero_kl_and_one_mode_has_log_k():
    rng = np.random.default_rng(1)
    uniform = modes.mixture_mode_metrics(_planted('grid25', list(range(25)), 8, rng), 'grid25')
    assert uniform.kl_to_uniform == pytest.approx(0.0, abs=1e-12)
    assert uniform.modes_covered == 25
    one_mode = modes.mixture_mode_metrics(_planted('grid25', [12], 200, rng), 'grid25')
    assert one_mode.kl_to_uniform == pytest.approx(np.log(25), rel=1e-12)


def test_kl_matches_its_definition_on_an_uneven_histogram():
    counts = np.array([5, 0, 1, 14])
    p = counts / counts.sum()
    expected = sum(pi * np.log(pi / 0.25) for pi in p if pi > 0)
    assert modes.kl_from_uniform(counts) == pytest.approx(expected, rel=1e-12)


def test_quality_threshold_is_three_std_from_the_nearest_mode():
    spec = MIXTURES['grid25']
    center = spec.centers[7]
    points = center + np.array([[2.9 * spec.std, 0.0], [0.0, -3.1 * spec.std]])
    got = modes.mixture_mode_metrics(points, 'grid25', min_count=1)
    assert got.high_quality_fraction == 0.5
    assert got.counts[7] == 1 and sum(got.counts) == 1


def test_nearest_mode_assignment_matches_numpy():
    rng = np.random.default_rng(2)
    spec = MIXTURES['grid25']
    points = rng.uniform(-5, 5, (500, 2))
    # A threshold wide enough that every point is high quality, so counts = nearest-mode histogram.
    got = modes.mode_metrics(points, spec.centers, spec.std, quality_threshold=1e3)
    nearest = np.argmin(((points[:, None] - spec.centers[None]) ** 2).sum(-1), axis=1)
    assert got.counts == tuple(np.bincount(nearest, minlength=25))


def test_default_min_count_ignores_a_few_stray_points():
    rng = np.random.default_rng(3)
    points = np.concatenate([_planted('grid25', [0], 4, rng), _planted('grid25', [1], 2496, rng)])
    got = modes.mixture_mode_metrics(points, 'grid25')
    assert got.min_count == 5  # floor(0.05 * 2500 / 25).
    assert got.modes_covered == 1
    assert modes.mixture_mode_metrics(points, 'grid25', min_count=1).modes_covered == 2


def test_samples_of_the_true_mixture_cover_every_mode():
    spec = MIXTURES['ring8']
    points, _ = spec.sample(4000, np.random.default_rng(4))
    got = modes.mixture_mode_metrics(points, 'ring8')
    assert got.modes_covered == 8 and got.num_samples == 4000
    # In 2-D, P(|z| <= 3) for a standard normal z is 1 - exp(-9/2); allow 4 binomial std.
    p = 1 - np.exp(-4.5)
    assert got.high_quality_fraction == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / 4000))


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match='unknown mixture'):
        modes.mixture_mode_metrics(np.zeros((3, 2)), 'ring9')
    with pytest.raises(ValueError, match='share d'):
        modes.mode_metrics(np.zeros((3, 3)), np.zeros((4, 2)), 0.1)
    with pytest.raises(ValueError, match='non-finite'):
        modes.mixture_mode_metrics(np.full((3, 2), np.inf), 'ring8')
    with pytest.raises(ValueError, match='std'):
        modes.mode_metrics(np.zeros((3, 2)), np.zeros((4, 2)), 0.0)
