"""Building everything a run needs from a config: the game and its players, the initial state,
and the jitted step; and the run's keys.

`build_experiment(config, spec, mesh)` asks the game registry (`gans.games.build_game`) for the
game and its two networks, gives each player the optax transform `config.optim` describes (or
the one the game brings), initialises both players from the game's example inputs and jits the
step over the mesh. Nothing here depends on which game it is.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import ml_collections
import optax
from jax.sharding import Mesh

from gans import games, optim
from gans.data import DatasetSpec
from gans.engine import sharding
from gans.engine.state import GANState, create_state
from gans.engine.step import TrainStep, jit_train_step, make_train_step
from gans.games.base import Game

LR_SCHEDULES = ('constant', 'cosine', 'linear', 'constant_then_linear')

# Purposes folded into the run's seed key; the step folds its own number and purposes further.
_INIT_PURPOSE, _TRAIN_PURPOSE, _SAMPLE_PURPOSE = 0, 1, 2
# Folded into the init key for the game's state, so the players' parameters are what they were
# before games had state.
_GAME_STATE_PURPOSE = 7


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


def learning_rate_schedule(config: ml_collections.ConfigDict, peak: float, updates: int) -> optax.ScalarOrSchedule:
    """`peak`, or its decay over `updates` optimizer updates to `optim.lr_final_fraction` of it."""
    name, final_fraction = config.optim.lr_schedule, config.optim.lr_final_fraction
    if name == 'constant':
        return peak
    if name == 'cosine':
        return optax.cosine_decay_schedule(peak, updates, alpha=final_fraction)
    if name == 'linear':
        return optax.linear_schedule(peak, peak * final_fraction, updates)
    if name == 'constant_then_linear':
        # pix2pix / CycleGAN: the peak for the first half of the run, then linearly to the final fraction.
        half = updates // 2
        return optax.join_schedules([optax.constant_schedule(peak),
                                     optax.linear_schedule(peak, peak * final_fraction, updates - half)], [half])
    raise ValueError(f'unknown optim.lr_schedule {name!r}; valid: {list(LR_SCHEDULES)}')


def build_optimizers(config: ml_collections.ConfigDict,
                     setup: games.GameSetup) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """Each player's optax transform: the game's own where it brings one, else Adam from
    `config.optim` (different learning rates give the two-time-scale rule), G with the EMA of
    `optim.ema_decay`, D with the weight clipping of `optim.weight_clip` (None: the game's)."""
    opt = config.optim
    clip = setup.d_weight_clip if opt.weight_clip is None else opt.weight_clip
    g_tx = setup.g_tx or optim.player_optimizer(learning_rate_schedule(config, opt.g_lr, config.num_steps),
                                                opt.b1, opt.b2, ema_decay=opt.ema_decay)
    # D updates d_steps times per step, and its optimizer counts its own updates.
    d_tx = setup.d_tx or optim.player_optimizer(
        learning_rate_schedule(config, opt.d_lr, config.num_steps * opt.d_steps), opt.b1, opt.b2, weight_clip=clip)
    return g_tx, d_tx


def check_micro_batches(config: ml_collections.ConfigDict, mesh: Mesh) -> int:
    """`config.optim.micro_batches`, checked against the batch and the mesh: each micro-batch must
    split evenly over the devices, so the interleaved split keeps every row on its device."""
    micro_batches = config.optim.micro_batches
    if not isinstance(micro_batches, int) or micro_batches < 1:
        raise ValueError(f'optim.micro_batches must be a positive integer, got {micro_batches!r}')
    if config.batch_size % (micro_batches * mesh.size):
        raise ValueError(f'batch_size {config.batch_size} must be a multiple of optim.micro_batches '
                         f'({micro_batches}) x devices ({mesh.size})')
    return micro_batches


def make_init(config: ml_collections.ConfigDict,
              spec: DatasetSpec) -> tuple[Callable[[jax.Array], GANState], Game]:
    """(init(key) -> initial state, the game) for `config`; init is pure, so it jits and vmaps."""
    setup = games.build_game(config, spec)
    g_tx, d_tx = build_optimizers(config, setup)
    game = setup.game

    def init(key: jax.Array) -> GANState:
        g_example, d_example = game.example_inputs(spec)
        state = create_state(setup.generator, setup.discriminator, g_tx, d_tx, key, g_example, d_example,
                             g_rng_streams=setup.g_rng_streams, d_rng_streams=setup.d_rng_streams)
        return state.replace(game_state=game.init_game_state(state, jax.random.fold_in(key, _GAME_STATE_PURPOSE)))

    return init, game


def build_experiment(config: ml_collections.ConfigDict, spec: DatasetSpec, mesh: Mesh) -> Experiment:
    """Builds networks, optimizers and the replicated initial state for `config` on `mesh`."""
    sharding.check_divisible(config.batch_size, mesh)
    micro_batches = check_micro_batches(config, mesh)
    init, game = make_init(config, spec)
    state = jax.jit(init, out_shardings=sharding.replicated(mesh))(init_key(config))
    step = make_train_step(game, d_steps=config.optim.d_steps, simultaneous=config.optim.simultaneous,
                           micro_batches=micro_batches, batch_sharding=sharding.batch_sharding(mesh))
    return Experiment(config=config, spec=spec, mesh=mesh, game=game, state=state,
                      train_step=jit_train_step(step, mesh, config.cpu_convolutions))


def init_key(config: ml_collections.ConfigDict) -> jax.Array:
    """Key of the run's initial state."""
    return jax.random.fold_in(jax.random.key(config.seed), _INIT_PURPOSE)


def train_key(config: ml_collections.ConfigDict) -> jax.Array:
    """The run's base key for training; the step folds its own number and purposes into it."""
    return jax.random.fold_in(jax.random.key(config.seed), _TRAIN_PURPOSE)


def sample_key(config: ml_collections.ConfigDict) -> jax.Array:
    """Key of the fixed generator inputs behind the sample grids, the same at every step."""
    return jax.random.fold_in(jax.random.key(config.seed), _SAMPLE_PURPOSE)
