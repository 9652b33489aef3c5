"""Players: one struct per side, one update path, several networks per player, rng streams,
convolution layers per platform, and the refusal of checkpoints of the old state layout."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from gans.engine.checkpoint import Checkpointer, CheckpointMismatchError
from gans.engine.state import Player, create_state
from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.models.ops import layers


class _Pair(nn.Module):
    """Two networks in one player (CycleGAN's G and F): `__call__` runs both."""

    @nn.compact
    def __call__(self, x, train=True):
        return nn.Dense(3, name='forward')(x), nn.Dense(3, name='backward')(x)


def _loss(params, player, x):
    forward, backward = player.apply(x, params=params)[0]
    return jnp.sum(forward ** 2) + jnp.sum(backward ** 2)


def test_apply_gradients_is_one_optax_update():
    x = jnp.ones((2, 4))
    tx = optax.adam(1e-2)
    player = Player.create(_Pair(), tx, jax.random.key(0), x)
    grads = jax.grad(_loss)(player.params, player, x)
    updates, opt_state = tx.update(grads, player.opt_state, player.params)
    expected = optax.apply_updates(player.params, updates)
    new = player.apply_gradients(grads, player.model_state)
    for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(a, b)
    assert jax.tree.structure(new.opt_state) == jax.tree.structure(opt_state)


def test_a_player_of_two_networks_with_a_transform_each():
    """optax.multi_transform over the player's networks: each moves by its own rule."""
    x = jnp.ones((2, 4))
    tx = optax.multi_transform({'sgd': optax.sgd(0.1), 'frozen': optax.set_to_zero()},
                               {'forward': 'sgd', 'backward': 'frozen'})
    player = Player.create(_Pair(), tx, jax.random.key(0), x)
    grads = jax.grad(_loss)(player.params, player, x)
    new = player.apply_gradients(grads, player.model_state)
    for a, b in zip(jax.tree.leaves(new.params['backward']), jax.tree.leaves(player.params['backward'])):
        np.testing.assert_array_equal(a, b)
    for a, b, g in zip(jax.tree.leaves(new.params['forward']), jax.tree.leaves(player.params['forward']),
                       jax.tree.leaves(grads['forward'])):
        np.testing.assert_allclose(a, b - 0.1 * g, rtol=1e-6)


class _Noisy(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        return nn.Dropout(0.5, deterministic=False)(nn.Dense(8)(x))


def test_rng_streams_feed_the_network_and_a_missing_key_is_named():
    x = jnp.ones((4, 4))
    player = Player.create(_Noisy(), optax.sgd(0.1), jax.random.key(0), x, rng_streams=('dropout',))
    a = player.apply(x, train=False, key=jax.random.key(1))[0]
    b = player.apply(x, train=False, key=jax.random.key(1))[0]
    c = player.apply(x, train=False, key=jax.random.key(2))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match=r"rng streams \['dropout'\]: pass a key"):
        player.apply(x, train=False)


def test_model_state_is_every_mutable_collection():
    state = create_state(DCGANGenerator(image_size=16, channels=1, width=4), DCGANDiscriminator(
        image_size=16, channels=1, width=4), optax.sgd(0.1), optax.sgd(0.1), jax.random.key(0),
        jnp.zeros((2, 8)), jnp.zeros((2, 16, 16, 1)))
    assert set(state.generator.model_state) == {'batch_stats'}
    out, model_state = state.generator.apply(jnp.ones((2, 8)), train=True)
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(model_state),
                                                          jax.tree.leaves(state.generator.model_state))]
    assert any(changed) and out.shape == (2, 16, 16, 1)
    # Inference mode moves nothing.
    _, same = state.generator.apply(jnp.ones((2, 8)), train=False)
    assert same is state.generator.model_state


@pytest.mark.parametrize('network, example', [
    (DCGANGenerator(image_size=16, channels=3, width=4), jnp.ones((2, 8))),
    (DCGANDiscriminator(image_size=16, channels=3, width=4), jnp.ones((2, 16, 16, 3))),
])
def test_xla_and_canonical_convolution_layers_agree(network, example):
    """The per-platform layer choice changes no parameter and no value, and gradients agree."""
    canonical = network.clone(**{f: getattr(layers.CANONICAL, f) for f in _conv_fields(network)})
    xla = network.clone(**{f: getattr(layers.XLA, f) for f in _conv_fields(network)})
    x = example * jnp.linspace(-1, 1, example.size).reshape(example.shape)
    variables = canonical.init(jax.random.key(0), x, train=False)
    assert jax.tree.structure(variables) == jax.tree.structure(xla.init(jax.random.key(0), x, train=False))

    def loss(params, module):
        out = module.apply({**variables, 'params': params}, x, train=True, mutable=['batch_stats'])[0]
        return jnp.sum(jnp.sin(out))

    np.testing.assert_allclose(loss(variables['params'], canonical), loss(variables['params'], xla), rtol=1e-5)
    grads = [jax.grad(loss)(variables['params'], m) for m in (canonical, xla)]
    # float32 sums in another order: differences of ~1e-6 of each gradient's scale.
    for a, b in zip(*map(jax.tree.leaves, grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(np.abs(b).max()))


def _conv_fields(network):
    return [f for f in ('conv', 'conv_transpose') if hasattr(network, f)]


def test_auto_layers_are_canonical_on_cpu_only():
    assert layers.conv_layers('auto', 'cpu') is layers.CANONICAL
    assert layers.conv_layers('auto', 'gpu') is layers.XLA
    with pytest.raises(ValueError, match="unknown conv_layers 'fast'"):
        layers.conv_layers('fast')


def test_checkpoints_of_the_old_flat_state_are_refused_by_name(tmp_path):
    old = {'step': jnp.zeros((), jnp.int32), 'g_params': {'w': jnp.ones(3)}, 'd_params': {'w': jnp.ones(3)}}
    checkpointer = Checkpointer(str(tmp_path))
    # Written as the old engine wrote it: the state as one flat dict beside the data position.
    checkpointer._manager.save(0, args=ocp.args.Composite(state=ocp.args.StandardSave(old),
                                                          data=ocp.args.JsonSave({'next_index': 0})))
    checkpointer.wait()
    template = create_state(_Pair(), _Pair(), optax.sgd(0.1), optax.sgd(0.1), jax.random.key(0),
                            jnp.ones((1, 4)), jnp.ones((1, 4)))
    with pytest.raises(CheckpointMismatchError, match='older version of gans, which stored g_params'):
        checkpointer.restore(template, 0)
    checkpointer.close()
    assert (tmp_path / 'checkpoints' / '0').is_dir()  # nothing was changed
