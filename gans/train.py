"""The jitted two-player train step, and building everything a run needs from a config.

`train_step(state, batch, key) -> (state, metrics)` is pure: it folds the step into the run's
key, takes k discriminator updates (one per slice of the batch) and one generator update, and
returns a new state. Jitted over a mesh it runs unchanged on 1 or N devices: batch norm and
every loss mean are over the global batch because jit sees global arrays.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from gans import games, losses, optim, sharding
from gans.games import Game
from gans.state import GANState, create_state

if TYPE_CHECKING:
    from gans.data import DatasetSpec

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
TrainStep = Callable[[GANState, Batch, jax.Array], tuple[GANState, Metrics]]

# Purposes folded into the step key, so no two uses of randomness ever share a key.
_D_PURPOSE, _G_PURPOSE = 0, 1


def split_for_d_steps(batch: Batch, d_steps: int) -> Batch:
    """[k*B, ...] -> [k, B, ...], row i of example j being j*k + i.

    Interleaving (rather than taking contiguous chunks) keeps every device's rows on that
    device when the leading axis is sharded, so the split moves no data.
    """
    def split(x):
        if x.shape[0] % d_steps:
            raise ValueError(f'batch of {x.shape[0]} examples does not split into {d_steps} discriminator steps')
        return jnp.moveaxis(x.reshape(x.shape[0] // d_steps, d_steps, *x.shape[1:]), 1, 0)
    return jax.tree.map(split, batch)


def make_train_step(game: Game, *, d_steps: int = 1, simultaneous: bool = False) -> TrainStep:
    """Builds the (unjitted) step: `d_steps` D updates, then one G update.

    With `simultaneous`, G's gradient is taken at the same parameters as D's first update
    (both players move from the same point); otherwise G responds to the updated D.
    The batch carries `d_steps * B` examples: a fresh real batch for each D update.
    `game` is any game of `gans.games`: its D loss also returns the new `state.game_state`.
    """
    if d_steps < 1:
        raise ValueError(f'd_steps must be >= 1, got {d_steps}')

    def d_update(state: GANState, inputs: tuple[Batch, jax.Array]) -> tuple[GANState, Metrics]:
        real, key = inputs
        grads, (metrics, stats, game_state) = jax.grad(game.d_loss, has_aux=True)(state.d_params, state, real, key)
        updates, opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
        state = state.replace(d_params=optax.apply_updates(state.d_params, updates), d_opt_state=opt_state,
                              d_batch_stats=stats, game_state=game_state)
        return state, metrics

    def g_gradients(state: GANState, batch: Batch, key: jax.Array):
        return jax.grad(game.g_loss, has_aux=True)(state.g_params, state, batch, key)

    def apply_g(state: GANState, grads: Any, stats: Any) -> GANState:
        updates, opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
        return state.replace(g_params=optax.apply_updates(state.g_params, updates), g_opt_state=opt_state,
                             g_batch_stats=stats)

    def train_step(state: GANState, batch: Batch, key: jax.Array) -> tuple[GANState, Metrics]:
        key = jax.random.fold_in(key, state.step)
        d_keys = jax.random.split(jax.random.fold_in(key, _D_PURPOSE), d_steps)
        g_key = jax.random.fold_in(key, _G_PURPOSE)
        real = split_for_d_steps(batch, d_steps)
        g_batch = jax.tree.map(lambda x: x[0], real)
        if simultaneous:
            g_grads, (g_metrics, g_stats) = g_gradients(state, g_batch, g_key)
        state, d_metrics = jax.lax.scan(d_update, state, (real, d_keys))
        if not simultaneous:
            g_grads, (g_metrics, g_stats) = g_gradients(state, g_batch, g_key)
        state = apply_g(state, g_grads, g_stats)
        metrics = {**jax.tree.map(jnp.mean, d_metrics), **g_metrics}
        return state.replace(step=state.step + 1), metrics

    return train_step


def jit_train_step(train_step: TrainStep, mesh: Mesh) -> TrainStep:
    """Jits the step over `mesh`: batch split on `data`, state and key replicated, state donated."""
    replicated = sharding.replicated(mesh)
    return jax.jit(train_step, in_shardings=(replicated, sharding.batch_sharding(mesh), replicated),
                   out_shardings=(replicated, replicated), donate_argnums=0)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Everything built from a config: the game, the initial state and the jitted step."""
    config: ml_collections.ConfigDict
    spec: DatasetSpec
    mesh: Mesh
    game: Game
    state: GANState
    train_step: TrainStep

    @property
    def examples_per_step(self) -> int:
        return self.config.batch_size * self.config.optim.d_steps


def build_optimizers(config: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                                  optax.GradientTransformation]:
    """Each player's optax transform; different learning rates give the two-time-scale rule."""
    opt = config.optim
    clip = opt.weight_clip
    if clip is None and config.get('game', 'gan') == 'gan':
        clip = losses.get_objective(config.loss).weight_clip
    g_tx = optim.player_optimizer(opt.g_lr, opt.b1, opt.b2, ema_decay=opt.ema_decay)
    d_tx = optim.player_optimizer(opt.d_lr, opt.b1, opt.b2, weight_clip=clip)
    return g_tx, d_tx


def build_experiment(config: ml_collections.ConfigDict, spec: DatasetSpec, mesh: Mesh) -> Experiment:
    """Builds networks, optimizers and the replicated initial state for `config` on `mesh`."""
    sharding.check_divisible(config.batch_size, mesh)
    init, game = make_init(config, spec.shape)
    state = jax.jit(init, out_shardings=sharding.replicated(mesh))(init_key(config))
    step = make_train_step(game, d_steps=config.optim.d_steps, simultaneous=config.optim.simultaneous)
    return Experiment(config=config, spec=spec, mesh=mesh, game=game, state=state,
                      train_step=jit_train_step(step, mesh))


def make_init(config: ml_collections.ConfigDict,
              data_shape: tuple[int, ...]) -> tuple[Callable[[jax.Array], GANState], Game]:
    """(init(key) -> initial state, the game) for `config`; init is pure, so it jits and vmaps."""
    game, generator, discriminator = games.build_game(config, data_shape)
    g_tx, d_tx = build_optimizers(config)

    # A packing discriminator (PacGAN) needs whole packs even in its example batch.
    num_examples = config.get('pack', 1)

    def init(key: jax.Array) -> GANState:
        # Only shapes matter here; conditional games add labels or codes to both examples.
        z_example = game.sample_latents(jax.random.key(0), 1)
        x_example = jnp.zeros((num_examples, *data_shape))
        if hasattr(game, 'discriminator_example'):
            x_example = game.discriminator_example(x_example)
        state = create_state(generator, discriminator, g_tx, d_tx, key, z_example, x_example)
        # A purpose of its own, so the players' initial parameters are what they were without it.
        return state.replace(game_state=game.init_game_state(state, jax.random.fold_in(key, 7)))

    return init, game


def init_key(config: ml_collections.ConfigDict) -> jax.Array:
    """Key of the run's initial state."""
    return jax.random.fold_in(jax.random.key(config.seed), 0)


def train_key(config: ml_collections.ConfigDict) -> jax.Array:
    """The run's base key for training; the step folds its own number and purposes into it."""
    return jax.random.fold_in(jax.random.key(config.seed), 1)


def sample_key(config: ml_collections.ConfigDict) -> jax.Array:
    """Key of the fixed latent batch behind the sample grids, the same at every step."""
    return jax.random.fold_in(jax.random.key(config.seed), 2)
