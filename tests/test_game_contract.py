"""The game contract: a game written here, in the test, trains through the engine unchanged.

The toy game's generator takes its input from the batch (a darkened copy of the real image),
its network keeps a Flax collection other than `batch_stats` (the running mean of its inputs),
and both players' losses advance the game state. Nothing in the engine knows it.
"""
from __future__ import annotations

import ast
import dataclasses
import os
import shutil
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from gans import config as config_lib
from gans import games, losses, optim
from gans.engine import sharding
from gans.engine.loop import train
from gans.engine.state import create_state
from gans.engine.step import jit_train_step, make_train_step
from gans.games.base import Aux, GameSetup, discriminate, drawn_inputs, generate

SIZE = 8


class InputTracker(nn.Module):
    """G(x): a small conv net that also tracks the running mean of its training inputs in the
    `input_moments` collection (count and mean), as StyleGAN tracks its average w."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        count = self.variable('input_moments', 'count', lambda: jnp.zeros((), jnp.float32))
        mean = self.variable('input_moments', 'mean', lambda: jnp.zeros(x.shape[1:], jnp.float32))
        if train and not self.is_initializing():
            count.value = count.value + 1.0
            mean.value = mean.value + (x.mean(0) - mean.value) / count.value
        return jnp.tanh(nn.Conv(x.shape[-1], (3, 3))(nn.relu(nn.Conv(4, (3, 3))(x))))


class Critic(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        h = nn.leaky_relu(nn.Conv(4, (3, 3), strides=2)(x), 0.2)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
        return nn.Dense(1)(h.reshape(h.shape[0], -1))[:, 0]


@dataclasses.dataclass(frozen=True)
class BrightenGame:
    """G learns to undo darkening: its input is 0.5 * (x + 1) - 1 of the batch's own images."""
    l1_weight: float = 1.0
    objective: losses.Objective = losses.get_objective('nonsaturating')

    input_source = 'data'
    preview_split = 'test'

    def example_inputs(self, spec):
        x = jnp.zeros((1, *spec.shape))
        return x, x

    def generator_inputs(self, batch, key):
        del key
        return 0.5 * (batch['x'] + 1.0) - 1.0

    def init_game_state(self, state, key):
        del state, key
        return {'d_calls': jnp.zeros((), jnp.int32), 'g_calls': jnp.zeros((), jnp.int32)}

    def d_loss(self, d_params, state, batch, key):
        fake = jax.lax.stop_gradient(generate(state, state.generator.params, drawn_inputs(self, batch, key))[0])
        real_logits, model_state = discriminate(state, d_params, state.discriminator.model_state, batch['x'])
        fake_logits, model_state = discriminate(state, d_params, model_state, fake)
        loss = self.objective.d_loss(real_logits, fake_logits)
        game_state = {**state.game_state, 'd_calls': state.game_state['d_calls'] + 1}
        return loss, Aux({'d_loss': loss}, model_state, game_state)

    def g_loss(self, g_params, state, batch, key):
        fake, g_state = generate(state, g_params, drawn_inputs(self, batch, key))
        d = state.discriminator
        logits, _ = discriminate(state, d.params, d.model_state, fake)
        l1 = jnp.mean(jnp.abs(fake - batch['x']))
        loss = self.objective.g_loss(logits) + self.l1_weight * l1
        game_state = {**state.game_state, 'g_calls': state.game_state['g_calls'] + 1}
        return loss, Aux({'g_loss': loss, 'g_l1': l1}, g_state, game_state)

    def preview_size(self, grid_size):
        return grid_size

    def preview_inputs(self, key, num, heldout):
        return self.generator_inputs({'x': heldout['x'][:num]}, key)

    def preview_grid(self, inputs, outputs, heldout):
        return jnp.concatenate([inputs, outputs, heldout['x'][:outputs.shape[0]]]), outputs.shape[0]

    def check_step(self, *, micro_batches, d_steps):
        del micro_batches, d_steps


def _toy_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({'l1_weight': 1.0})


def _build_toy(config, spec) -> GameSetup:
    return GameSetup(BrightenGame(l1_weight=config.toy.l1_weight), InputTracker(), Critic())


@pytest.fixture
def toy_game(monkeypatch):
    """The toy game registered as `toy`: the registry is the only place a new game is named."""
    monkeypatch.setitem(games.GAMES, 'toy', games.GameEntry(_build_toy, _toy_config, {}, 'test game'))


def _batches(steps: int, batch: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.tanh(rng.normal(size=(batch, SIZE, SIZE, 1))).astype(np.float32) for _ in range(steps)]


def _run_step(num_devices: int, steps: int, d_steps: int = 1):
    mesh = sharding.make_mesh(num_devices)
    game = BrightenGame()
    init = lambda key: create_state(InputTracker(), Critic(), optim.player_optimizer(1e-3),
                                    optim.player_optimizer(1e-3), key, *game.example_inputs(_Spec()))
    state = jax.jit(init, out_shardings=sharding.replicated(mesh))(jax.random.key(0))
    state = state.replace(game_state=game.init_game_state(state, None))
    step = jit_train_step(make_train_step(game, d_steps=d_steps, batch_sharding=sharding.batch_sharding(mesh)),
                          mesh)
    key = sharding.replicate(jax.random.key(1), mesh)
    batches = _batches(steps, 16 * d_steps)
    for x in batches:
        state, metrics = step(state, sharding.global_batch({'x': x}, mesh), key)
    return jax.device_get(state), batches


@dataclasses.dataclass(frozen=True)
class _Spec:
    shape: tuple = (SIZE, SIZE, 1)


def test_collection_and_game_state_advance_in_the_step():
    """G's collection moves once per G update (its D-loss passes are not kept), over G's own inputs;
    both losses advance the game state; D's batch statistics move too."""
    d_steps, steps = 2, 3
    state, batches = _run_step(1, steps, d_steps)
    moments = state.generator.model_state['input_moments']
    assert float(moments['count']) == steps
    # G's batch of a step is the first of its d_steps interleaved slices (rows 0, k, 2k, ...).
    g_inputs = [0.5 * (x[::d_steps] + 1.0) - 1.0 for x in batches]
    np.testing.assert_allclose(moments['mean'], np.mean([x.mean(0) for x in g_inputs], axis=0), rtol=1e-5, atol=1e-6)
    assert int(state.game_state['g_calls']) == steps and int(state.game_state['d_calls']) == steps * d_steps
    assert int(state.step) == steps
    stats = state.discriminator.model_state['batch_stats']
    assert float(np.abs(jax.tree.leaves(stats)[0]).sum()) > 0


def test_toy_game_sharded_equals_single_device():
    single, _ = _run_step(1, 3)
    sharded, _ = _run_step(8, 3)
    for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(sharded), strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=1e-5)


def _train_config(num_steps: int) -> ml_collections.ConfigDict:
    config = config_lib.base_config('toy', 'dcgan')
    config.update(dataset='digits', image_size=SIZE * 2, num_steps=num_steps, batch_size=16, checkpoint_every=2,
                  sample_every=2, log_every=1, grid_size=4, num_devices=1)
    return config_lib.validate(config)


def test_toy_game_trains_and_resumes_through_the_loop(toy_game, tmp_path, data_dir):
    """`gans.engine.loop.train` runs the registered toy game end to end: sample grids from the
    game's previews, checkpoints holding its collection and game state, and an exact resume."""
    full = train(_train_config(4), str(tmp_path / 'full'))
    train(_train_config(2), str(tmp_path / 'half'))
    shutil.copytree(tmp_path / 'half', tmp_path / 'resumed')
    resumed = train(_train_config(4), str(tmp_path / 'resumed'))
    assert float(full.generator.model_state['input_moments']['count']) == 4
    assert int(full.game_state['g_calls']) == 4
    for (path, a), (_, b) in zip(jax.tree_util.tree_flatten_with_path(jax.device_get(full))[0],
                                 jax.tree_util.tree_flatten_with_path(jax.device_get(resumed))[0], strict=True):
        np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
    # The grid is the game's: inputs | outputs | held-out targets, 4 columns of 16 px (+1 px gaps).
    from PIL import Image
    grid = np.asarray(Image.open(tmp_path / 'full' / 'samples' / '0000004.png'))
    assert grid.shape[:2] == (3 * 17 + 1, 4 * 17 + 1)


def test_a_game_without_the_registry_entry_is_unknown():
    config = config_lib.base_config('gan', 'dcgan')
    config.game = 'toy'
    with pytest.raises(ValueError, match="unknown game 'toy'"):
        games.build_game(config, None)


ENGINE = os.path.join(os.path.dirname(__file__), '..', 'gans', 'engine')


def test_the_engine_names_no_game_and_probes_nothing():
    """No engine module compares anything with a game's name or calls hasattr/getattr on a game:
    whatever differs between games is a method of the contract."""
    names = set(games.GAMES)
    for filename in sorted(os.listdir(ENGINE)):
        if not filename.endswith('.py'):
            continue
        tree = ast.parse(open(os.path.join(ENGINE, filename)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                constants = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                assert not names & set(constants), f'{filename}:{node.lineno} compares with a game name'
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'hasattr':
                raise AssertionError(f'{filename}:{node.lineno} probes an object with hasattr')
