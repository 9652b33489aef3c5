"""Gradient accumulation: micro_batches=m takes the large batch's step (no batch norm), on 1 or 8
devices and with k D steps; batch norm is per micro-batch; stateful games are refused."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import config as config_lib
from gans import data, games
from gans.engine import sharding
from gans.engine.experiment import check_micro_batches, make_init
from gans.engine.state import create_state
from gans.engine.step import accumulated_grad, jit_train_step, make_train_step, split_interleaved
from gans.games.base import Aux

RING = 'experiments/configs/mlp_ring8.py:tiny'  # MLPs (16, 16), batch 32, latent 8: no batch norm
DCGAN = 'experiments/configs/dcgan_digits.py:tiny'
# SGD, so a parameter difference is the learning rate times a gradient difference (Adam's first
# step, g / |g|, would blow a rounding difference on a near-zero gradient up to the learning rate).
LR = 0.1
# float32: m partial means summed in another order than one mean of m times as many terms,
# ~1e-7 relative on gradients and losses of order 1; times LR and a few layers, 1e-6 is ample.
TOLERANCE = 1e-6


def _ring_setup(overrides=()):
    config = config_lib.load_config(RING, list(overrides))
    setup = games.build_game(config, data.config_spec(config))
    game = setup.game
    state = create_state(setup.generator, setup.discriminator, optax.sgd(LR), optax.sgd(LR), jax.random.key(0),
                         game.sample_latents(jax.random.key(0), 1), jnp.zeros((1, 2)))
    return config, game, state


def _max_abs_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(jax.tree.leaves(a),
                                                                                     jax.tree.leaves(b)))


def _step(game, state, batch, key, mesh, **options):
    step = jit_train_step(make_train_step(game, batch_sharding=sharding.batch_sharding(mesh), **options), mesh)
    state = sharding.replicate(jax.device_get(state), mesh)  # a copy: the step donates its state
    new, metrics = step(state, sharding.global_batch(batch, mesh), sharding.replicate(key, mesh))
    return jax.device_get(new), jax.device_get(metrics)


def _batch(config, d_steps, seed=1):
    return {'x': np.random.default_rng(seed).normal(size=(config.batch_size * d_steps, 2)).astype(np.float32)}


@pytest.mark.parametrize('d_steps, simultaneous, num_devices', [(1, False, 1), (2, False, 1), (2, True, 1),
                                                                (2, False, 8)])
def test_micro_batches_take_the_large_batch_step(d_steps, simultaneous, num_devices):
    config, game, state = _ring_setup()
    batch, key = _batch(config, d_steps), jax.random.key(3)
    large, large_metrics = _step(game, state, batch, key, sharding.make_mesh(1), d_steps=d_steps,
                                 simultaneous=simultaneous)
    micro, micro_metrics = _step(game, state, batch, key, sharding.make_mesh(num_devices), d_steps=d_steps,
                                 simultaneous=simultaneous, micro_batches=4)
    assert _max_abs_diff(large.discriminator.params, micro.discriminator.params) < TOLERANCE
    assert _max_abs_diff(large.generator.params, micro.generator.params) < TOLERANCE
    assert large_metrics.keys() == micro_metrics.keys()
    for name in large_metrics:
        np.testing.assert_allclose(micro_metrics[name], large_metrics[name], rtol=TOLERANCE, atol=TOLERANCE,
                                   err_msg=name)
    # Both players moved (by ~LR x gradient), so this compares updates, not initial states.
    assert _max_abs_diff(large.discriminator.params, state.discriminator.params) > 1e-3
    assert _max_abs_diff(large.generator.params, state.generator.params) > 1e-3


def test_accumulated_grad_is_the_mean_of_per_slice_grads():
    """Independent of the step: m interleaved slices' gradients, averaged by hand."""
    def loss(w, state, batch, key):
        del state, key
        return jnp.mean((batch['x'] @ w) ** 2), Aux({'loss': jnp.mean(batch['x'] @ w)}, {'n': jnp.ones(())}, {})

    w = jnp.asarray([[1.0], [-2.0], [0.5]])
    x = jnp.asarray(np.random.default_rng(0).normal(size=(12, 3)), jnp.float32)
    grads, (metrics, stats, _) = jax.jit(accumulated_grad, static_argnums=(0, 5))(
        loss, w, None, {'x': x}, jax.random.key(0), 3)
    by_hand = sum(jax.grad(lambda w: jnp.mean((x[i::3] @ w) ** 2))(w) for i in range(3)) / 3
    np.testing.assert_allclose(grads, by_hand, rtol=1e-6)
    np.testing.assert_allclose(grads, jax.grad(lambda w: jnp.mean((x @ w) ** 2))(w), rtol=1e-5)
    np.testing.assert_allclose(metrics['loss'], jnp.mean(x @ w), rtol=1e-5, atol=1e-6)
    assert float(stats['n']) == 1.0


def test_split_interleaved_keeps_each_devices_rows():
    """Rows i*m + j go to slice j: with 2 devices holding rows 0-5 and 6-11, each slice's first
    half (its device-0 shard) comes from rows 0-5."""
    split = split_interleaved({'x': jnp.arange(12)}, 3, 'micro-batches')['x']
    np.testing.assert_array_equal(split, [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]])
    assert np.all(np.asarray(split)[:, :2] < 6) and np.all(np.asarray(split)[:, 2:] >= 6)
    with pytest.raises(ValueError, match='does not split into 5 micro-batches'):
        split_interleaved({'x': jnp.arange(12)}, 5, 'micro-batches')


def test_batch_norm_statistics_are_per_micro_batch():
    """G's first batch norm follows a linear map of z: averaged over micro-batches, its running
    mean is the large batch's (means of equal slices average to the mean) but its running variance
    is smaller (it misses the spread between slices); the parameters differ too, since every layer
    normalises with one slice's moments."""
    config = config_lib.load_config(DCGAN)
    init, game = make_init(config, data.config_spec(config))
    state = jax.jit(init)(jax.random.key(0))
    batch = {'x': np.tanh(np.random.default_rng(0).normal(size=(16, 16, 16, 1))).astype(np.float32)}
    mesh = sharding.make_mesh(1)
    large, _ = _step(game, state, batch, jax.random.key(1), mesh)
    micro, _ = _step(game, state, batch, jax.random.key(1), mesh, micro_batches=4)
    large_bn, micro_bn = (large.generator.model_state['batch_stats']['project_bn'],
                          micro.generator.model_state['batch_stats']['project_bn'])
    assert _max_abs_diff(large_bn['mean'], micro_bn['mean']) < 1e-6
    # Law of total variance for equal slices: the batch's variance is the slices' mean variance
    # plus the variance of their means, so per channel the large batch's is never smaller.
    spread = np.asarray(large_bn['var']) - np.asarray(micro_bn['var'])
    assert spread.min() > -1e-7 and spread.mean() > 1e-6, spread
    assert _max_abs_diff(large.discriminator.params, micro.discriminator.params) > 1e-6


@pytest.mark.parametrize('overrides, match', [(['gan.replay_size=64'], 'game state'),
                                              (['game=began'], 'game state'),
                                              (['gan.unroll_steps=2'], 'unroll_steps')])
def test_stateful_games_and_unrolling_are_refused(overrides, match):
    config = config_lib.load_config(RING, overrides)
    with pytest.raises(ValueError, match=match):
        init, game = make_init(config, data.config_spec(config))
        state = jax.jit(init)(jax.random.key(0))
        jax.jit(make_train_step(game, micro_batches=2))(state, _batch(config, 1), jax.random.key(1))


@pytest.mark.parametrize('overrides, match', [(['optim.micro_batches=0'], 'positive integer'),
                                              (['optim.micro_batches=3'], 'multiple of optim.micro_batches'),
                                              (['optim.micro_batches=8', 'discriminator.pack=8'], 'packs of 8')])
def test_micro_batch_settings_are_checked(overrides, match):
    config = config_lib.load_config(RING, overrides)
    with pytest.raises(ValueError, match=match):
        check_micro_batches(config, sharding.make_mesh(2))
        # The game's own settings (a packing D's packs per micro-batch) are checked by its builder.
        games.build_game(config, data.config_spec(config))


def test_each_device_generates_only_its_own_fakes():
    """The latents the step draws are laid out like the batch: on 8 devices, every matrix product
    of the per-device program handles 32 / 8 = 4 examples (or is a weight-shaped gradient), none
    the whole batch of 32, which a replicated G would."""
    config, game, state = _ring_setup()
    mesh = sharding.make_mesh(8)
    step = jit_train_step(make_train_step(game, batch_sharding=sharding.batch_sharding(mesh)), mesh)
    batch = sharding.global_batch(_batch(config, 1), mesh)
    text = step.lower(sharding.replicate(state, mesh), batch, sharding.replicate(jax.random.key(0), mesh)) \
        .compile().as_text()
    shapes = re.findall(r'= f32\[(\d+),(\d+)\]\S* dot\(', text)
    assert shapes and ('4', '16') in shapes
    assert not [s for s in shapes if s[0] == '32'], shapes
