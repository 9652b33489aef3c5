"""The jitted two-player train step, and building everything a run needs from a config.

`train_step(state, batch, key) -> (state, metrics)` is pure: it folds the step into the run's
key, draws the fakes' latents, takes k discriminator updates (one per slice of the batch) and
one generator update, each optionally accumulated over micro-batches, and returns a new state.
Jitted over a mesh it runs unchanged on 1 or N devices: batch norm and every loss mean are over
the global batch because jit sees global arrays.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh, Sharding

from gans import compile_options, games, losses, optim, sharding
from gans.games import Game
from gans.games import gan as gan_game
from gans.games.gan import LATENTS_KEY
from gans.state import GANState, create_state

if TYPE_CHECKING:
    from gans.data import DatasetSpec

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
TrainStep = Callable[[GANState, Batch, jax.Array], tuple[GANState, Metrics]]

# Purposes folded into the step key, so no two uses of randomness ever share a key.
_D_PURPOSE, _G_PURPOSE, _D_LATENTS_PURPOSE = 0, 1, 2


def split_interleaved(tree: Any, parts: int, what: str) -> Any:
    """Every leaf [parts*n, ...] -> [parts, n, ...], row i of part j being row i*parts + j.

    Interleaving (rather than taking contiguous chunks) keeps every device's rows on that
    device when the leading axis is sharded, so the split moves no data.
    """
    def split(x):
        if x.shape[0] % parts:
            raise ValueError(f'batch of {x.shape[0]} examples does not split into {parts} {what}')
        return jnp.moveaxis(x.reshape(x.shape[0] // parts, parts, *x.shape[1:]), 1, 0)
    return jax.tree.map(split, tree)


def split_for_d_steps(batch: Batch, d_steps: int) -> Batch:
    """[k*B, ...] -> [k, B, ...]: one interleaved slice of the batch per discriminator step."""
    return split_interleaved(batch, d_steps, 'discriminator steps')


def accumulated_grad(loss_fn: Callable, params: Any, state: GANState, batch: Batch, key: jax.Array,
                     micro_batches: int) -> tuple[Any, Any]:
    """`jax.grad(loss_fn, has_aux=True)` on `batch`, averaged over `micro_batches` interleaved slices.

    The slices run one after another in a `lax.scan`, so only one slice's activations are alive
    at a time. Gradients, metrics and batch statistics are averaged: for losses that are means
    over examples this is the whole batch's gradient, and the running batch-norm means move by
    the whole batch's mean (the statistics used to normalise are still per slice). Each slice
    gets its own key (`split(key, micro_batches)`), so randomness inside a loss, such as the
    gradient penalty's interpolation points, is drawn afresh per slice, not as for the whole batch.
    """
    grad_fn = jax.grad(loss_fn, has_aux=True)
    if micro_batches == 1:
        return grad_fn(params, state, batch, key)
    slices = split_interleaved(batch, micro_batches, 'micro-batches')
    keys = jax.random.split(key, micro_batches)

    def add_slice(total, inputs):
        micro_batch, micro_key = inputs
        return jax.tree.map(jnp.add, total, grad_fn(params, state, micro_batch, micro_key)), None

    shapes = jax.eval_shape(grad_fn, params, state, jax.tree.map(lambda x: x[0], slices), keys[0])
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    total, _ = jax.lax.scan(add_slice, zeros, (slices, keys))
    return jax.tree.map(lambda x: x / micro_batches, total)


def with_fake_latents(game: Game, batch: Batch, key: jax.Array, batch_sharding: Sharding | None = None) -> Batch:
    """`batch` with one generator input per example under `LATENTS_KEY` (the fakes that face it).

    Drawn here for the whole batch, then split with it (per D step and per micro-batch), so that
    micro-batching splits the fakes as it splits the real examples. With `batch_sharding` the
    latents are laid out like the batch, so each device generates and judges only its own fakes
    (drawn from a replicated key they would otherwise be replicated, and so would G's work).
    """
    latents = game.sample_latents(key, gan_game.batch_size(batch))
    if batch_sharding is not None:
        latents = jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, batch_sharding), latents)
    return {**batch, LATENTS_KEY: latents}


def make_train_step(game: Game, *, d_steps: int = 1, simultaneous: bool = False, micro_batches: int = 1,
                    batch_sharding: Sharding | None = None) -> TrainStep:
    """Builds the (unjitted) step: `d_steps` D updates, then one G update.

    With `simultaneous`, G's gradient is taken at the same parameters as D's first update
    (both players move from the same point); otherwise G responds to the updated D.
    The batch carries `d_steps * B` examples: a fresh real batch for each D update. The fakes'
    latents are drawn by the step, B per D update (purpose `_D_LATENTS_PURPOSE`) and B for G
    (from G's key), and reach the game in the batch (`gans.games.gan.fake_latents`).
    `game` is any game of `gans.games`: its D loss also returns the new `state.game_state`.

    `micro_batches` > 1 takes each update's gradient as the average over that many interleaved
    slices of its B examples and fakes (`accumulated_grad`), then applies the optax transform
    once. Without batch norm, batch features or randomness inside the losses this is the large
    batch's update up to float rounding. Batch norm, minibatch features and packing see one
    slice at a time; a gradient penalty draws its points per slice. Games that carry state
    through D's loss (experience replay, BEGAN's k_t) and unrolled D's are refused: they would
    advance once per slice.

    `batch_sharding` (the batch's, from `jit_train_step`'s mesh) is where the drawn latents go.
    """
    if d_steps < 1:
        raise ValueError(f'd_steps must be >= 1, got {d_steps}')
    if not isinstance(micro_batches, int) or micro_batches < 1:
        raise ValueError(f'micro_batches must be a positive integer, got {micro_batches!r}')
    if micro_batches > 1 and getattr(game, 'unroll_steps', 0):
        raise ValueError('micro_batches > 1 does not combine with unroll_steps: the unrolled discriminator '
                         'would train on each micro-batch alone, not on the whole batch')

    def d_update(state: GANState, inputs: tuple[Batch, jax.Array]) -> tuple[GANState, Metrics]:
        real, key = inputs
        grads, (metrics, stats, game_state) = accumulated_grad(game.d_loss, state.d_params, state, real, key,
                                                               micro_batches)
        updates, opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
        state = state.replace(d_params=optax.apply_updates(state.d_params, updates), d_opt_state=opt_state,
                              d_batch_stats=stats, game_state=game_state)
        return state, metrics

    def g_gradients(state: GANState, batch: Batch, key: jax.Array):
        return accumulated_grad(game.g_loss, state.g_params, state, batch, key, micro_batches)

    def apply_g(state: GANState, grads: Any, stats: Any) -> GANState:
        updates, opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
        return state.replace(g_params=optax.apply_updates(state.g_params, updates), g_opt_state=opt_state,
                             g_batch_stats=stats)

    def train_step(state: GANState, batch: Batch, key: jax.Array) -> tuple[GANState, Metrics]:
        if micro_batches > 1 and jax.tree.leaves(state.game_state):
            raise ValueError(f'micro_batches > 1 needs a game without game state; this one carries '
                             f'{sorted(state.game_state)} (a replay buffer or BEGAN\'s k_t), which its D loss '
                             f'would advance once per micro-batch')
        key = jax.random.fold_in(key, state.step)
        d_keys = jax.random.split(jax.random.fold_in(key, _D_PURPOSE), d_steps)
        g_key = jax.random.fold_in(key, _G_PURPOSE)
        batch = with_fake_latents(game, batch, jax.random.fold_in(key, _D_LATENTS_PURPOSE), batch_sharding)
        real = split_for_d_steps(batch, d_steps)
        first = jax.tree.map(lambda x: x[0], real)
        # G's fakes are fresh, drawn from G's key as the game itself would draw them.
        g_batch = with_fake_latents(game, first, g_key, batch_sharding)
        if simultaneous:
            g_grads, (g_metrics, g_stats) = g_gradients(state, g_batch, g_key)
        if d_steps == 1:
            # No scan for one D step: XLA:CPU runs some convolution gradients slower inside loops.
            state, d_metrics = d_update(state, (first, d_keys[0]))
        else:
            state, d_metrics = jax.lax.scan(d_update, state, (real, d_keys))
        if not simultaneous:
            g_grads, (g_metrics, g_stats) = g_gradients(state, g_batch, g_key)
        state = apply_g(state, g_grads, g_stats)
        metrics = {**jax.tree.map(jnp.mean, d_metrics), **g_metrics}
        return state.replace(step=state.step + 1), metrics

    return train_step


def jit_train_step(train_step: TrainStep, mesh: Mesh, cpu_convolutions: str = 'eigen') -> TrainStep:
    """Jits the step over `mesh`: batch split on `data`, state and key replicated, state donated;
    on CPU, convolutions by `cpu_convolutions` ('eigen' | 'xla_default', see gans.compile_options)."""
    replicated = sharding.replicated(mesh)
    options = compile_options.compiler_options(cpu_convolutions, compile_options.mesh_platform(mesh))
    return jax.jit(train_step, in_shardings=(replicated, sharding.batch_sharding(mesh), replicated),
                   out_shardings=(replicated, replicated), donate_argnums=0, compiler_options=options)


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
    if clip is None and config.game == 'gan':
        clip = losses.get_objective(config.loss).weight_clip
    g_tx = optim.player_optimizer(learning_rate_schedule(config, opt.g_lr, config.num_steps), opt.b1, opt.b2,
                                  ema_decay=opt.ema_decay)
    # D updates d_steps times per step, and its optimizer counts its own updates.
    d_tx = optim.player_optimizer(learning_rate_schedule(config, opt.d_lr, config.num_steps * opt.d_steps),
                                  opt.b1, opt.b2, weight_clip=clip)
    return g_tx, d_tx


LR_SCHEDULES = ('constant', 'cosine', 'linear')


def learning_rate_schedule(config: ml_collections.ConfigDict, peak: float, updates: int) -> optax.ScalarOrSchedule:
    """`peak`, or its decay over `updates` optimizer updates to `optim.lr_final_fraction` of it."""
    name, final_fraction = config.optim.lr_schedule, config.optim.lr_final_fraction
    if name == 'constant':
        return peak
    if name == 'cosine':
        return optax.cosine_decay_schedule(peak, updates, alpha=final_fraction)
    if name == 'linear':
        return optax.linear_schedule(peak, peak * final_fraction, updates)
    raise ValueError(f'unknown optim.lr_schedule {name!r}; valid: {list(LR_SCHEDULES)}')


def check_micro_batches(config: ml_collections.ConfigDict, mesh: Mesh) -> int:
    """`config.optim.micro_batches` (1 when absent), checked against the batch, mesh and packing.

    Each micro-batch must split evenly over the devices and each device's rows into micro-batches,
    so the interleaved split keeps every row on its device.
    """
    micro_batches = config.optim.micro_batches
    if not isinstance(micro_batches, int) or micro_batches < 1:
        raise ValueError(f'optim.micro_batches must be a positive integer, got {micro_batches!r}')
    if config.batch_size % (micro_batches * mesh.size):
        raise ValueError(f'batch_size {config.batch_size} must be a multiple of optim.micro_batches '
                         f'({micro_batches}) x devices ({mesh.size})')
    pack = config.pack
    if (config.batch_size // micro_batches) % pack:
        raise ValueError(f'micro-batches of {config.batch_size // micro_batches} examples do not split into '
                         f'packs of {pack}')
    return micro_batches


def check_num_classes(config: ml_collections.ConfigDict, spec: DatasetSpec) -> None:
    """A label count in the config must be the dataset's: labels beyond it would never be real."""
    num_classes = config.num_classes
    if num_classes is not None and spec.num_classes is not None and num_classes != spec.num_classes:
        raise ValueError(f'config.num_classes is {num_classes} but dataset {spec.name!r} has '
                         f'{spec.num_classes} classes')


def build_experiment(config: ml_collections.ConfigDict, spec: DatasetSpec, mesh: Mesh) -> Experiment:
    """Builds networks, optimizers and the replicated initial state for `config` on `mesh`."""
    sharding.check_divisible(config.batch_size, mesh)
    micro_batches = check_micro_batches(config, mesh)
    check_num_classes(config, spec)
    init, game = make_init(config, spec.shape)
    state = jax.jit(init, out_shardings=sharding.replicated(mesh))(init_key(config))
    step = make_train_step(game, d_steps=config.optim.d_steps, simultaneous=config.optim.simultaneous,
                           micro_batches=micro_batches, batch_sharding=sharding.batch_sharding(mesh))
    return Experiment(config=config, spec=spec, mesh=mesh, game=game, state=state,
                      train_step=jit_train_step(step, mesh, config.cpu_convolutions))


def make_init(config: ml_collections.ConfigDict,
              data_shape: tuple[int, ...]) -> tuple[Callable[[jax.Array], GANState], Game]:
    """(init(key) -> initial state, the game) for `config`; init is pure, so it jits and vmaps."""
    game, generator, discriminator = games.build_game(config, data_shape)
    g_tx, d_tx = build_optimizers(config)

    # A packing discriminator (PacGAN) needs whole packs even in its example batch.
    num_examples = config.pack

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
