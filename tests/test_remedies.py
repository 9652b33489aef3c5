"""Discriminator-side remedies: minibatch discrimination, minibatch std, packing (PacGAN)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import config as config_lib
from gans import losses
from gans import data
from gans.games import build_game
from gans.games.gan import AdversarialGame
from gans.models.minibatch import MinibatchDiscrimination, MinibatchStdDev, pack
from gans.models.mlp import MLPDiscriminator, MLPGenerator
from gans.engine.state import create_state
from gans.engine.step import make_train_step

RING8 = 'experiments/configs/mlp_ring8.py:tiny'
RING_SPEC = data.dataset_spec('ring8')
DIGITS16 = data.dataset_spec('digits', image_size=16)


def _minibatch_features(x, num_kernels=5, kernel_dim=3):
    layer = MinibatchDiscrimination(num_kernels=num_kernels, kernel_dim=kernel_dim)
    variables = layer.init(jax.random.key(0), x)
    return np.asarray(layer.apply(variables, x)), np.asarray(variables['params']['kernel'])


def test_minibatch_discrimination_shapes_and_formula():
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    out, kernel = _minibatch_features(x)
    assert out.shape == (6, 4 + 5)
    np.testing.assert_array_equal(out[:, :4], x)
    # o_b(x_i) = sum_{j != i} exp(-||M_i,b - M_j,b||_1), with M = x T reshaped [B, K, C].
    m = (x.astype(np.float64) @ kernel).reshape(6, 5, 3)
    expected = np.array([[sum(np.exp(-np.abs(m[i, b] - m[j, b]).sum()) for j in range(6) if j != i)
                          for b in range(5)] for i in range(6)])
    np.testing.assert_allclose(out[:, 4:], expected, rtol=1e-5)
    # Images are flattened first.
    out, _ = _minibatch_features(np.zeros((3, 2, 2, 1), np.float32))
    assert out.shape == (3, 4 + 5)


def test_minibatch_features_tell_identical_from_diverse_batches():
    """A collapsed batch gives o = B - 1 on every kernel; a spread-out one gives much less."""
    identical = np.tile(np.array([[0.3, -1.2, 2.0, 0.5]], np.float32), (8, 1))
    out, _ = _minibatch_features(identical)
    np.testing.assert_allclose(out[:, 4:], 7.0, rtol=1e-6)
    diverse = 50.0 * np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32)
    out, _ = _minibatch_features(diverse)
    assert out[:, 4:].max() < 1.0


def test_minibatch_stddev_shapes_and_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    out = MinibatchStdDev().apply({}, x)
    assert out.shape == (8, 6)
    np.testing.assert_allclose(out[:, 5], np.sqrt(x.var(axis=0) + 1e-8).mean(), rtol=1e-5)
    images = rng.normal(size=(8, 3, 3, 2)).astype(np.float32)
    out = MinibatchStdDev(group_size=4).apply({}, images)
    assert out.shape == (8, 3, 3, 3)
    np.testing.assert_array_equal(out[..., :2], images)
    # Strided groups: with M = 8 / 4 = 2, examples {0, 2, 4, 6} and {1, 3, 5, 7}.
    for b in range(8):
        group = images[b % 2::2]
        np.testing.assert_allclose(out[b, ..., 2], np.sqrt(group.var(axis=0) + 1e-8).mean(), rtol=1e-5)
    collapsed = MinibatchStdDev().apply({}, np.ones((4, 3), np.float32))
    np.testing.assert_allclose(collapsed[:, 3], 1e-4, rtol=1e-3)
    with pytest.raises(ValueError, match='does not split into groups of 3'):
        MinibatchStdDev(group_size=3).apply({}, x)


def test_pack_of_one_keeps_the_discriminator_and_the_objective():
    x = jax.random.normal(jax.random.key(0), (8, 2))
    plain, packed = MLPDiscriminator(input_shape=(2,), hidden=(8,)), MLPDiscriminator(input_shape=(2,), hidden=(8,), pack=1)
    params = plain.init(jax.random.key(1), x)
    assert jax.tree.structure(params) == jax.tree.structure(packed.init(jax.random.key(1), x))
    np.testing.assert_array_equal(plain.apply(params, x), packed.apply(params, x))
    game = AdversarialGame(latent_dim=3, objective=losses.get_objective('nonsaturating'))
    gen = MLPGenerator(output_shape=(2,), hidden=(8,), tanh_output=False)
    values = []
    for disc in (plain, packed):
        state = create_state(gen, disc, optax.sgd(0.1), optax.sgd(0.1), jax.random.key(2),
                             jnp.zeros((1, 3)), jnp.zeros((1, 2)))
        values.append(float(game.d_loss(state.discriminator.params, state, {'x': x}, jax.random.key(3))[0]))
    assert values[0] == values[1]


def test_packing_judges_m_concatenated_examples():
    x = jax.random.normal(jax.random.key(0), (8, 2))
    packed = MLPDiscriminator(input_shape=(2,), hidden=(8,), pack=4)
    wide = MLPDiscriminator(input_shape=(8,), hidden=(8,))
    params = packed.init(jax.random.key(1), x)
    logits = packed.apply(params, x)
    assert logits.shape == (2,)
    np.testing.assert_allclose(logits, wide.apply(params, x.reshape(2, 8)), rtol=1e-6)
    np.testing.assert_array_equal(pack(x, 4)[1], np.asarray(x[4:]).ravel())
    with pytest.raises(ValueError, match='does not split into packs of 3'):
        pack(x, 3)


def test_config_switches_build_the_remedies_and_reject_bad_values():
    config = config_lib.load_config(RING8, ['discriminator.batch_features=minibatch', 'discriminator.pack=2',
                                            'discriminator.minibatch_kernels=4'])
    disc = build_game(config, RING_SPEC).discriminator
    assert (disc.batch_features, disc.pack, disc.minibatch_kernels) == ('minibatch', 2, 4)
    with pytest.raises(ValueError, match=r"unknown discriminator.batch_features 'mbd'; "
                                         r"valid: \['none', 'minibatch', 'stddev'\]"):
        build_game(config_lib.load_config(RING8, ['discriminator.batch_features=mbd']), RING_SPEC)
    with pytest.raises(ValueError, match='batch_size 32 does not split into packs of 3'):
        build_game(config_lib.load_config(RING8, ['discriminator.pack=3']), RING_SPEC)
    dcgan = config_lib.load_config('experiments/configs/dcgan_digits.py:tiny', ['discriminator.pack=2'])
    assert build_game(dcgan, DIGITS16).discriminator.pack == 2  # dcgan D takes them too


@pytest.mark.parametrize('features, pack_size', [('minibatch', 1), ('stddev', 2)])
def test_remedy_discriminators_train_under_jit(features, pack_size):
    game = AdversarialGame(latent_dim=3, objective=losses.get_objective('nonsaturating'))
    gen = MLPGenerator(output_shape=(2,), hidden=(8,), tanh_output=False)
    disc = MLPDiscriminator(input_shape=(2,), hidden=(8,), pack=pack_size, batch_features=features,
                            minibatch_kernels=4, minibatch_kernel_dim=3)
    state = create_state(gen, disc, optax.adam(1e-2), optax.adam(1e-2), jax.random.key(0),
                         jnp.zeros((1, 3)), jnp.zeros((pack_size, 2)))
    step = jax.jit(make_train_step(game))
    new, metrics = step(state, {'x': jax.random.normal(jax.random.key(1), (8, 2))}, jax.random.key(2))
    assert np.isfinite(float(metrics['d_loss'])) and np.isfinite(float(metrics['g_loss']))
    moved = [float(jnp.abs(a - b).max())
             for a, b in zip(jax.tree.leaves(new.discriminator.params), jax.tree.leaves(state.discriminator.params))]
    assert min(moved) > 0  # every D parameter, the layer's kernel included, got a gradient
