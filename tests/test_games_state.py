"""The engine's game extension point: the game registry and `GANState.game_state`."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import config as config_lib
from gans import losses
from gans.engine import sharding
from gans.engine.checkpoint import Checkpointer
from gans.data import DatasetSpec
from gans.games import build_game
from gans.games.began import BEGANGame
from gans.games.gan import AdversarialGame
from gans.models.mlp import MLPDiscriminator, MLPGenerator
from gans.engine.sharding import make_mesh
from gans.engine.state import create_state
from gans.engine.experiment import build_experiment
from gans.engine.step import make_train_step

RING8 = 'experiments/configs/mlp_ring8.py:tiny'
RING_SPEC = DatasetSpec(name='ring8', kind='points', shape=(2,), num_classes=8, num_examples={'train': 100_000})


@dataclasses.dataclass(frozen=True)
class CountingGame(AdversarialGame):
    """The plain game plus a counter of D updates and the sum of D's losses in its game state."""

    def init_game_state(self, state, key):
        return {'updates': jnp.zeros((), jnp.int32), 'loss_sum': jnp.zeros(())}

    def d_loss(self, d_params, state, batch, key):
        loss, aux = super().d_loss(d_params, state, batch, key)
        game_state = {'updates': aux.game_state['updates'] + 1,
                      'loss_sum': aux.game_state['loss_sum'] + jax.lax.stop_gradient(loss)}
        return loss, aux._replace(game_state=game_state)


def _state(game):
    gen = MLPGenerator(output_shape=(2,), hidden=(8,), tanh_output=False)
    disc = MLPDiscriminator(input_shape=(2,), hidden=(8,))
    state = create_state(gen, disc, optax.sgd(1e-2), optax.sgd(1e-2), jax.random.key(0),
                         jnp.zeros((1, 4)), jnp.zeros((1, 2)))
    return state.replace(game_state=game.init_game_state(state, jax.random.key(1)))


def test_state_defaults_to_an_empty_game_state():
    game = AdversarialGame(latent_dim=4, objective=losses.get_objective('nonsaturating'))
    gen = MLPGenerator(output_shape=(2,), hidden=(8,), tanh_output=False)
    disc = MLPDiscriminator(input_shape=(2,), hidden=(8,))
    state = create_state(gen, disc, optax.sgd(1e-2), optax.sgd(1e-2), jax.random.key(0),
                         jnp.zeros((1, 4)), jnp.zeros((1, 2)))
    assert state.game_state == {} and game.init_game_state(state, jax.random.key(0)) == {}
    new, _ = jax.jit(make_train_step(game))(state, {'x': jnp.ones((8, 2))}, jax.random.key(0))
    assert new.game_state == {}


def test_game_state_is_threaded_through_every_d_update():
    game = CountingGame(latent_dim=4, objective=losses.get_objective('nonsaturating'))
    state = _state(game)
    real = jax.random.normal(jax.random.key(2), (3 * 8, 2))
    step = jax.jit(make_train_step(game, d_steps=3))
    key = jax.random.key(3)
    s1, m1 = step(state, {'x': real}, key)
    s2, m2 = step(s1, {'x': real}, key)
    assert int(s2.game_state['updates']) == 6
    # The sum of the six D losses, each reported (averaged over the 3 D steps) in the metrics.
    np.testing.assert_allclose(float(s2.game_state['loss_sum']), 3 * float(m1['d_loss'] + m2['d_loss']), rtol=1e-5)


def test_registry_selects_the_game_and_lists_valid_names():
    config = config_lib.load_config(RING8)
    assert isinstance(build_game(config, RING_SPEC).game, AdversarialGame)
    # Selecting another game brings its config section (config.began) with it.
    assert isinstance(build_game(config_lib.load_config(RING8, ['game=began']), RING_SPEC).game, BEGANGame)
    config.game = 'wgan'
    with pytest.raises(ValueError, match=r"unknown game 'wgan'; valid games: \['acgan', 'began', .*'madgan'"):
        build_game(config, RING_SPEC)
    config = config_lib.load_config(RING8, ['gan.loss=began'])
    with pytest.raises(ValueError, match='config.game=began'):
        build_game(config, RING_SPEC)
    # The gan remedies live in config.gan now, which a began config does not have: setting one is
    # a config error, and the discriminator options of game gan are refused by began's builder.
    with pytest.raises(ValueError, match=r"unknown config field 'gan.unroll_steps'"):
        config_lib.load_config(RING8, ['game=began', 'gan.unroll_steps=2'])
    config = config_lib.load_config(RING8, ['game=began', 'discriminator.pack=2'])
    with pytest.raises(ValueError, match=r"does not take \['discriminator.pack'\]"):
        build_game(config, RING_SPEC)


def test_checkpoint_round_trips_the_game_state(tmp_path):
    """BEGAN's k and a replay buffer come back from a checkpoint with the rest of the state."""
    config = config_lib.load_config(RING8, ['gan.replay_size=16'])
    experiment = build_experiment(config, RING_SPEC, make_mesh(1))
    state = experiment.state
    state = state.replace(game_state={'replay': {**state.game_state['replay'], 'next': jnp.asarray(5, jnp.int32)}})
    checkpointer = Checkpointer(str(tmp_path))
    checkpointer.save(state, {'position': 0})
    checkpointer.wait()
    fresh = build_experiment(config, RING_SPEC, make_mesh(1)).state
    restored, _ = checkpointer.restore(fresh)
    checkpointer.close()
    assert int(restored.game_state['replay']['next']) == 5
    np.testing.assert_array_equal(restored.game_state['replay']['fakes'], state.game_state['replay']['fakes'])


@pytest.mark.parametrize('overrides', [['gan.replay_size=64', 'discriminator.batch_features=stddev',
                                        'discriminator.pack=2', 'gan.unroll_steps=2'],
                                       ['game=began']])
def test_games_sharded_over_8_devices_match_one_device(overrides):
    """Game state, batch-level D features, packing and the unroll see the global batch under the mesh."""
    config = config_lib.load_config(RING8, overrides)
    real = np.asarray(jax.random.normal(jax.random.key(5), (config.batch_size, 2)))
    results = []
    for devices in (1, 8):
        mesh = make_mesh(devices)
        experiment = build_experiment(config, RING_SPEC, mesh)
        state, key = experiment.state, jax.device_put(jax.random.key(6), sharding.replicated(mesh))
        for _ in range(2):
            state, _ = experiment.train_step(state, sharding.global_batch({'x': real}, mesh), key)
        results.append(jax.device_get(state))
    for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
