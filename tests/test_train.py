"""The jitted two-player step: sharded equals single-device, k D-steps, update orders."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import losses, optim
from gans.engine import sharding
from gans.engine.state import create_state
from gans.engine.step import jit_train_step, make_train_step, split_for_d_steps
from gans.games.base import GENERATOR_INPUTS
from gans.games.gan import AdversarialGame
from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.models.mlp import MLPDiscriminator, MLPGenerator

LATENT = 8


def _dcgan_state(mesh, lr=2e-4):
    gen = DCGANGenerator(image_size=16, channels=1, width=8)
    disc = DCGANDiscriminator(image_size=16, channels=1, width=8)
    g_tx = optim.player_optimizer(lr, ema_decay=0.9)
    d_tx = optim.player_optimizer(lr)
    init = lambda key: create_state(gen, disc, g_tx, d_tx, key, jnp.zeros((1, LATENT)), jnp.zeros((1, 16, 16, 1)))
    return jax.jit(init, out_shardings=sharding.replicated(mesh))(jax.random.key(0))


def _run(num_devices, steps, d_steps=1, simultaneous=False):
    mesh = sharding.make_mesh(num_devices)
    state = _dcgan_state(mesh)
    game = AdversarialGame(latent_dim=LATENT, objective=losses.get_objective('nonsaturating'))
    step = jit_train_step(make_train_step(game, d_steps=d_steps, simultaneous=simultaneous), mesh)
    key = sharding.replicate(jax.random.key(1), mesh)
    rng = np.random.default_rng(0)
    history = []
    for _ in range(steps):
        real = np.tanh(rng.normal(size=(16 * d_steps, 16, 16, 1))).astype(np.float32)
        state, metrics = step(state, sharding.global_batch({'x': real}, mesh), key)
        history.append(jax.device_get(metrics))
    return jax.device_get(state), history


def _max_abs_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope='module')
def single_and_sharded():
    return _run(1, steps=3), _run(8, steps=3)


def test_sharded_steps_match_single_device(single_and_sharded):
    """8-way data parallel == 1 device: batch-norm statistics are over the global batch.

    Tolerance: float32 sums reduce in a different order across shards (~1e-7 relative);
    Adam divides by sqrt(v) and can scale that up on near-zero gradients, so after 3
    steps we allow 1e-5 absolute on parameters of scale ~0.02-1.
    """
    (single, single_metrics), (sharded, sharded_metrics) = single_and_sharded
    assert _max_abs_diff(single.generator.params, sharded.generator.params) < 1e-5
    assert _max_abs_diff(single.discriminator.params, sharded.discriminator.params) < 1e-5
    assert _max_abs_diff(single.discriminator.model_state['batch_stats'],
                         sharded.discriminator.model_state['batch_stats']) < 1e-5
    assert _max_abs_diff(single.generator.model_state['batch_stats'],
                         sharded.generator.model_state['batch_stats']) < 1e-5
    for a, b in zip(single_metrics, sharded_metrics):
        np.testing.assert_allclose(a['d_loss'], b['d_loss'], rtol=1e-5)
    # The parameters did move, so the comparison is not between two initial states.
    assert _max_abs_diff(single.generator.params, _dcgan_state(sharding.make_mesh(1)).generator.params) > 1e-4


def test_batch_norm_uses_global_batch_statistics():
    """BN inside the sharded step normalises with global-batch moments: one D layer's
    batch-stat output equals numpy's mean over all 64 examples, not over one 8-example shard."""
    mesh = sharding.make_mesh(8)
    disc = DCGANDiscriminator(image_size=16, channels=1, width=8)
    x = np.random.default_rng(0).normal(size=(64, 16, 16, 1)).astype(np.float32)
    variables = disc.init(jax.random.key(0), x[:1], train=False)

    @jax.jit
    def running_means(x):
        _, updates = disc.apply(variables, x, train=True, mutable=['batch_stats'])
        return updates['batch_stats']

    sharded = running_means(sharding.global_batch({'x': x}, mesh)['x'])
    single = running_means(jnp.asarray(x))
    first_shard = running_means(jnp.asarray(x[:8]))
    assert _max_abs_diff(sharded, single) < 1e-6
    assert _max_abs_diff(first_shard, single) > 1e-4


def test_split_for_d_steps_interleaves():
    x = jnp.arange(12)
    split = split_for_d_steps({'x': x}, 3)['x']
    np.testing.assert_array_equal(split, [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]])
    with pytest.raises(ValueError, match='does not split'):
        split_for_d_steps({'x': jnp.arange(10)}, 3)


def _mlp_setup(d_lr=1e-2, g_lr=1e-2):
    gen = MLPGenerator(output_shape=(2,), hidden=(16,), tanh_output=False)
    disc = MLPDiscriminator(input_shape=(2,), hidden=(16,))
    state = create_state(gen, disc, optax.sgd(g_lr), optax.sgd(d_lr), jax.random.key(0),
                         jnp.zeros((1, 4)), jnp.zeros((1, 2)))
    return state, AdversarialGame(latent_dim=4, objective=losses.get_objective('nonsaturating'))


def _with_d_params(state, d_params):
    return state.replace(discriminator=state.discriminator.replace(params=d_params))


def test_k_discriminator_steps_take_k_updates_on_fresh_batches():
    state, game = _mlp_setup()
    real = jax.random.normal(jax.random.key(2), (3 * 8, 2))
    key = jax.random.key(3)
    new, _ = jax.jit(make_train_step(game, d_steps=3))(state, {'x': real}, key)
    # Replay by hand: three D updates on interleaved slices with the step's own keys, then G.
    step_key = jax.random.fold_in(key, 0)
    d_keys = jax.random.split(jax.random.fold_in(step_key, 0), 3)
    # The step draws D's fakes' latents for all three slices at once (purpose 2), split like real.
    latents = game.sample_latents(jax.random.fold_in(step_key, 2), 3 * 8)
    d_params = state.discriminator.params
    for i in range(3):
        grads, _ = jax.grad(game.d_loss, has_aux=True)(d_params, _with_d_params(state, d_params),
                                                        {'x': real[i::3], GENERATOR_INPUTS: latents[i::3]}, d_keys[i])
        d_params = jax.tree.map(lambda p, g: p - 1e-2 * g, d_params, grads)
    assert _max_abs_diff(new.discriminator.params, d_params) < 1e-6
    g_grads, _ = jax.grad(game.g_loss, has_aux=True)(state.generator.params, _with_d_params(state, d_params),
                                                      {'x': real[0::3]}, jax.random.fold_in(step_key, 1))
    g_params = jax.tree.map(lambda p, g: p - 1e-2 * g, state.generator.params, g_grads)
    assert _max_abs_diff(new.generator.params, g_params) < 1e-6


def test_simultaneous_update_uses_pre_update_discriminator():
    state, game = _mlp_setup(d_lr=1.0)  # a big D step so the two orders clearly differ
    batch = {'x': jax.random.normal(jax.random.key(2), (8, 2))}
    key = jax.random.key(3)
    g_key = jax.random.fold_in(jax.random.fold_in(key, 0), 1)
    g_grads, _ = jax.grad(game.g_loss, has_aux=True)(state.generator.params, state, batch, g_key)
    expected = jax.tree.map(lambda p, g: p - 1e-2 * g, state.generator.params, g_grads)
    simultaneous, _ = jax.jit(make_train_step(game, simultaneous=True))(state, batch, key)
    alternating, _ = jax.jit(make_train_step(game, simultaneous=False))(state, batch, key)
    assert _max_abs_diff(simultaneous.generator.params, expected) < 1e-6
    assert _max_abs_diff(alternating.generator.params, expected) > 1e-5
    assert _max_abs_diff(simultaneous.discriminator.params, alternating.discriminator.params) < 1e-6


def test_step_counts_and_keys_differ_per_step():
    state, game = _mlp_setup()
    step = jax.jit(make_train_step(game))
    batch = {'x': jnp.ones((8, 2))}
    key = jax.random.key(0)
    s1, m1 = step(state, batch, key)
    s2, m2 = step(s1, batch, key)
    assert int(s2.step) == 2
    # Same base key, same real batch: different latents at each step (the step is folded in).
    assert float(m1['g_loss']) != float(m2['g_loss'])
