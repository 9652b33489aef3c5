"""Latent-space tools against closed forms: slerp geometry, traversals, the quantile grid, class means."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gans.inference import latent_space


def test_slerp_keeps_the_norm_and_halves_the_angle():
    a, b = jax.random.normal(jax.random.key(0), (2, 5, 16))
    b = b / jnp.linalg.norm(b, axis=-1, keepdims=True) * jnp.linalg.norm(a, axis=-1, keepdims=True)
    middle = jax.jit(latent_space.slerp)(a, b, jnp.full((5, 1), 0.5))
    np.testing.assert_allclose(jnp.linalg.norm(middle, axis=-1), jnp.linalg.norm(a, axis=-1), rtol=1e-5)

    def angle(u, v):
        return jnp.arccos(jnp.sum(u * v, -1) / jnp.linalg.norm(u, axis=-1) / jnp.linalg.norm(v, axis=-1))
    np.testing.assert_allclose(angle(a, middle), angle(a, b) / 2, rtol=1e-4)
    # A straight line would shrink the norm at the midpoint.
    assert jnp.all(jnp.linalg.norm(latent_space.lerp(a, b, 0.5), axis=-1) < jnp.linalg.norm(a, axis=-1))


def test_slerp_of_parallel_latents_is_the_straight_line():
    a = jnp.ones((1, 4))
    np.testing.assert_allclose(latent_space.slerp(a, 2 * a, jnp.array([[0.25]])), 1.25 * a, rtol=1e-6)


@pytest.mark.parametrize('method', latent_space.INTERPOLATIONS)
def test_interpolation_hits_both_ends_and_holds_labels(method):
    key_a, key_b = jax.random.split(jax.random.key(1))
    start = {'z': jax.random.normal(key_a, (3, 8)), 'labels': jnp.array([4, 5, 6], jnp.int32)}
    end = {'z': jax.random.normal(key_b, (3, 8)), 'labels': jnp.array([0, 0, 0], jnp.int32)}
    out = latent_space.interpolate(start, end, steps=6, method=method)
    assert out['z'].shape == (18, 8)
    rows = out['z'].reshape(3, 6, 8)
    np.testing.assert_allclose(rows[:, 0], start['z'], atol=1e-6)
    np.testing.assert_allclose(rows[:, -1], end['z'], atol=1e-5)
    np.testing.assert_array_equal(out['labels'], np.repeat([4, 5, 6], 6))


def test_interpolate_rejects_unknown_method():
    with pytest.raises(ValueError, match='slerp'):
        latent_space.interpolate(jnp.zeros((1, 2)), jnp.ones((1, 2)), 4, method='cubic')


def test_continuous_traversal_sweeps_one_code_only():
    base = {'z': jnp.arange(6.0).reshape(2, 3), 'codes': jnp.array([1, 2], jnp.int32),
            'continuous_codes': jnp.full((2, 2), 0.3)}
    values = jnp.linspace(-2.0, 2.0, 5)
    out = latent_space.traverse_continuous(base, 'continuous_codes', 1, values)
    np.testing.assert_allclose(out['continuous_codes'][:, 1], np.tile(values, 2))
    np.testing.assert_allclose(out['continuous_codes'][:, 0], 0.3)
    np.testing.assert_array_equal(out['codes'], [1] * 5 + [2] * 5)
    np.testing.assert_allclose(out['z'], np.repeat(base['z'], 5, axis=0))
    with pytest.raises(ValueError, match='out of range'):
        latent_space.traverse_continuous(base, 'continuous_codes', 2, values)


def test_categorical_traversal_visits_every_value():
    base = {'z': jnp.zeros((2, 3)), 'codes': jnp.array([7, 7], jnp.int32)}
    out = latent_space.traverse_categorical(base, 'codes', 10)
    np.testing.assert_array_equal(out['codes'], np.tile(np.arange(10), 2))
    with pytest.raises(ValueError, match='labels'):
        latent_space.traverse_categorical(base, 'labels', 10)


def test_manifold_grid_sits_on_normal_quantiles():
    grid = np.asarray(latent_space.manifold_grid(5))
    expected = stats.norm.ppf(np.linspace(0.05, 0.95, 5))
    np.testing.assert_allclose(grid[:5, 0], expected, rtol=1e-5, atol=1e-6)  # first row: z0 increases
    np.testing.assert_allclose(grid[::5, 1], expected[::-1], rtol=1e-5, atol=1e-6)  # first column: z1 decreases
    np.testing.assert_allclose(grid[12], [0.0, 0.0], atol=1e-6)  # the centre is the prior's median


def test_group_means_and_arithmetic():
    z = jax.random.normal(jax.random.key(2), (30, 4))
    groups = np.arange(30) % 3
    means = latent_space.group_means(z, groups, 3)
    for g in range(3):
        np.testing.assert_allclose(means[g], np.asarray(z)[groups == g].mean(0), rtol=1e-5, atol=1e-6)
    terms = latent_space.parse_expression('2 - 0 + 1')
    assert terms == [(1, 2), (-1, 0), (1, 1)]
    np.testing.assert_allclose(latent_space.arithmetic(means, terms), means[2] - means[0] + means[1], rtol=1e-6)
    with pytest.raises(ValueError, match='no samples'):
        latent_space.group_means(z, groups, 4)
    with pytest.raises(ValueError, match='malformed'):
        latent_space.parse_expression('2-+1')
